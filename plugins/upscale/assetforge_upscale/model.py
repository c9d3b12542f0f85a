"""Super-resolution models through spandrel: loading, and tiled inference with overlap.

Imports torch and spandrel: import this module only while post-processing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from assetforge.api import UserError

from .resample import crop, resize_to, wrap_pad

_CACHE: dict[tuple[str, str, str], Any] = {}
_CACHE_SIZE = 2  # a build usually uses one upscaler; keep two so alternating assets don't reload


def resolve_device(setting: str) -> str:
    """The device for ``[generation] device``: ``auto`` is cuda when available, else cpu."""
    if setting in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def load_model(path: Path, file_hash: str, device: str) -> Any:
    """Load ``path`` with spandrel (cached by content hash and device); an image-to-image model.

    The caller has already refused pickle formats unless the project allows them.
    """
    key = (str(path), file_hash, device)
    if key in _CACHE:
        return _CACHE[key]
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    try:
        model = ModelLoader(device=device).load_from_file(path)
    except UnsupportedModelError:
        raise UserError(f"{path}: spandrel does not recognise this model's architecture "
                        "(ESRGAN, Real-ESRGAN, SwinIR, HAT, … are supported)") from None
    except (ValueError, OSError, RuntimeError) as e:
        raise UserError(f"{path}: cannot load the upscale model: {e}") from None
    if not isinstance(model, ImageModelDescriptor):
        raise UserError(f"{path}: {model.architecture.name} is not an image-to-image model")
    if model.input_channels != 3 or model.output_channels != 3:
        raise UserError(f"{path}: only RGB models are supported (this one takes "
                        f"{model.input_channels} channels and gives {model.output_channels})")
    model.to(torch.float32).eval()
    while len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = model
    return model


def _starts(size: int, tile: int) -> list[int]:
    return list(range(0, size, tile))


def run_tiled(model: Any, x: torch.Tensor, tile: int, overlap: int) -> tuple[torch.Tensor, int]:
    """Upscale a (1, C, H, W) tensor in tiles of ``tile`` pixels with ``overlap`` of context.

    Each tile is upscaled together with up to ``overlap`` pixels around it and only its own
    region of the result is kept, so the tile borders see (almost) what they would untiled.
    Returns the output (on the CPU) and the number of model calls.
    """
    _, c, h, w = x.shape
    s = model.scale
    if h <= tile and w <= tile:
        return model(x).float().cpu(), 1
    out = torch.empty((1, c, h * s, w * s), dtype=torch.float32)
    calls = 0
    for y0 in _starts(h, tile):
        for x0 in _starts(w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(0, y0 - overlap), max(0, x0 - overlap)
            yb, xb = min(h, y1 + overlap), min(w, x1 + overlap)
            part = model(x[..., ya:yb, xa:xb]).float().cpu()
            out[..., y0 * s:y1 * s, x0 * s:x1 * s] = part[
                ..., (y0 - ya) * s:(y1 - ya) * s, (x0 - xa) * s:(x1 - xa) * s]
            calls += 1
    return out, calls


def upscale_rgb(image: Image.Image, model: Any, factor: int, tile: int, overlap: int,
                wrap_axes: tuple[str, ...] = (), margin: int = 0) -> tuple[Image.Image, dict]:
    """Upscale an RGB image by ``factor`` with ``model``; returns the image and its metrics.

    Along ``wrap_axes`` the image is padded circularly by ``margin`` first and cropped after,
    so a tileable image stays tileable. A model whose scale is not ``factor`` (a ×4 model asked
    for ×2) runs at its own scale and its output is then resized to ``factor`` with lanczos,
    still on the padded image so the resize wraps too.
    """
    margin = margin if wrap_axes else 0
    a = wrap_pad(np.asarray(image.convert("RGB")), wrap_axes, margin)
    device = str(model.device)
    x = torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
    x = x.to(device)
    y, calls = run_tiled(model, x, tile, overlap)
    arr = (y[0].permute(1, 2, 0).clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    out = Image.fromarray(arr)
    info: dict[str, Any] = {"upscale_model_scale": model.scale, "upscale_model_calls": calls}
    if model.scale != factor:
        out = resize_to(out, (a.shape[1] * factor, a.shape[0] * factor))
        info["upscale_resized_from_scale"] = model.scale
    out = Image.fromarray(crop(np.asarray(out), wrap_axes, margin * factor))
    return out, info
