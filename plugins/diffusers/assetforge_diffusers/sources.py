"""What a ``[models.NAME] source`` string points at, decided from the string and the disk only.

``builtin:tiny-sd15``            a tiny model built by ``tiny.py``
``models/sd15`` (a folder)       a diffusers folder with ``model_index.json``
``models/x.safetensors``         a single-file checkpoint (A1111/ComfyUI layout)
``models/x.ckpt`` (.pt/.pth/.bin) a pickle checkpoint: refused unless ``allow_pickle = true``
``org/name`` or ``org/name@rev`` a Hugging Face hub repository (diffusers layout)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from assetforge.api import ModelConfig

BUILTIN = "builtin:"
SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
# Hub ids as the hub spells them; "@rev" is a branch, tag or commit.
HUB_ID = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<rev>[\w./-]+))?")
# Another generator's scheme ("onnx:…", "https://…"); two letters or more so "C:\…" is a path.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")

Kind = Literal["builtin", "folder", "file", "pickle", "hub"]


@dataclass(frozen=True)
class Source:
    kind: Kind
    value: str  # builtin name, hub repo id, or the source as written
    path: Path | None = None  # resolved path for folder/file/pickle
    revision: str | None = None  # hub only


def classify(source: str, root: Path) -> Source | None:
    """Classify ``source`` (paths relative to ``root``); None when it is not ours."""
    s = source.strip()
    if s.startswith(BUILTIN):
        name = s[len(BUILTIN):]
        return Source("builtin", name) if name.startswith("tiny-") else None
    if _SCHEME.match(s):
        return None
    path = Path(s).expanduser()
    path = path if path.is_absolute() else root / path
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return Source("file", s, path)
    if suffix in PICKLE_SUFFIXES:
        return Source("pickle", s, path)
    if path.is_file():
        return None  # some other format: another generator's business
    if path.is_dir():
        return Source("folder", s, path)
    m = HUB_ID.fullmatch(s)
    if m and not s.startswith((".", "~")):
        return Source("hub", m["repo"], None, m["rev"])
    return Source("folder", s, path)  # missing: identify() says so, naming the model table


def root_of(model: ModelConfig) -> Path:
    """The project root a model table's relative paths start from (its config file's folder)."""
    if model.location is not None:
        return Path(model.location.file).resolve().parent
    return Path.cwd()
