"""Foreground masks from rembg with a model file of the project. Imports rembg: only call it
while building.

rembg only loads a custom model (``u2net_custom``) from inside its models folder, which it takes
from ``U2NET_HOME``; so that variable names the model's own folder while the session is made,
and is put back afterwards. Nothing is downloaded. Sessions run on the CPU execution provider,
so a GPU build of onnxruntime cannot change the bytes the recipe promises.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator

    from PIL import Image

SESSION = "u2net_custom"  # rembg's session for any U²-Net-shaped ONNX file (1×3×320×320 in)
_sessions: dict[str, Any] = {}  # model content hash -> rembg session, reused across assets
_lock = threading.Lock()


@contextmanager
def _models_home(folder: Path) -> Iterator[None]:
    old = os.environ.get("U2NET_HOME")
    os.environ["U2NET_HOME"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("U2NET_HOME", None)
        else:
            os.environ["U2NET_HOME"] = old


def session(model: Path, model_hash: str) -> Any:
    """The rembg session for ``model`` (an absolute path), made once per model content."""
    from rembg import new_session

    with _lock:
        if model_hash not in _sessions:
            with _models_home(model.parent):
                _sessions[model_hash] = new_session(SESSION, model_path=str(model),
                                                    providers=["CPUExecutionProvider"])
        return _sessions[model_hash]


def predict_mask(image: Image.Image, model: Path, model_hash: str) -> np.ndarray:
    """rembg's foreground mask of ``image`` as an (H, W) uint8 array (255 = foreground)."""
    from rembg import remove

    mask = remove(image.convert("RGB"), session=session(model, model_hash), only_mask=True)
    return np.asarray(mask.convert("L"), dtype=np.uint8)
