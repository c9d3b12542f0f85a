"""Wrap-around padding and plain resampling (lanczos, nearest). Torch-free.

A tileable image is periodic, so resampling it must see the opposite edge beyond each border:
pad it circularly by a margin, resample, and crop the margin (times the factor) off. With an
integer factor the output pixel grid lines up with the input's, so the crop is exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

LANCZOS_MARGIN = 4  # lanczos (a = 3) reads 3 input pixels beyond each side when upscaling
_FILTERS = {"lanczos": Image.Resampling.LANCZOS, "nearest": Image.Resampling.NEAREST}


def wrap_pad(a: np.ndarray, axes: tuple[str, ...], margin: int) -> np.ndarray:
    """Pad an (H, W, C) array circularly by ``margin`` along ``axes`` ("x" = width)."""
    if margin <= 0 or not axes:
        return a
    pad = [(margin, margin) if "y" in axes else (0, 0),
           (margin, margin) if "x" in axes else (0, 0)] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, pad, mode="wrap")  # "wrap" repeats the image, even past its own size


def crop(a: np.ndarray, axes: tuple[str, ...], margin: int) -> np.ndarray:
    """Remove ``margin`` pixels from both ends of ``axes``."""
    if margin <= 0 or not axes:
        return a
    ys = slice(margin, a.shape[0] - margin) if "y" in axes else slice(None)
    xs = slice(margin, a.shape[1] - margin) if "x" in axes else slice(None)
    return a[ys, xs]


def with_wrap(image: Image.Image, axes: tuple[str, ...], margin: int, factor: int,
              upscale: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply ``upscale`` (which multiplies sizes by ``factor``) to ``image`` padded by wrap."""
    if not axes:
        return upscale(image)
    padded = Image.fromarray(wrap_pad(np.asarray(image), axes, margin))
    out = upscale(padded)
    return Image.fromarray(crop(np.asarray(out), axes, margin * factor))


def resize(image: Image.Image, factor: int, method: str,
           wrap_axes: tuple[str, ...] = ()) -> Image.Image:
    """Resize by an integer ``factor`` with ``method`` ("lanczos" or "nearest")."""
    flt = _FILTERS[method]

    def up(img: Image.Image) -> Image.Image:
        return img.resize((img.width * factor, img.height * factor), flt)

    if method == "nearest":
        return up(image)  # each output pixel copies one input pixel: nothing to wrap
    return with_wrap(image, wrap_axes, LANCZOS_MARGIN, factor, up)


def resize_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Lanczos resize to an exact (width, height)."""
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)
