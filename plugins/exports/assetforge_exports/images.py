"""Pixel work shared by atlases and tilesets: loading, trimming, extruding, PNG encoding."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# Fixed encoder settings, no metadata chunks: the same pixels always give the same bytes.
PNG_COMPRESS_LEVEL = 6


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels; ``x``, ``y`` is its top-left corner."""

    x: int
    y: int
    w: int
    h: int


def load_rgba(path: Path) -> Image.Image:
    """The image at ``path`` as RGBA (loaded fully, so the file can change afterwards)."""
    with Image.open(path) as img:
        img.load()
        return img.convert("RGBA") if img.mode != "RGBA" else img.copy()


def opaque_box(img: Image.Image) -> Box:
    """The smallest box holding every pixel with alpha > 0.

    A fully transparent image keeps a 1×1 box at the origin: engines need a non-empty frame.
    """
    alpha = np.asarray(img.getchannel("A"))
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return Box(0, 0, 1, 1)
    return Box(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
               int(rows[-1] - rows[0] + 1))


def crop(img: Image.Image, box: Box) -> Image.Image:
    return img.crop((box.x, box.y, box.x + box.w, box.y + box.h))


def extrude(img: Image.Image, pixels: int) -> Image.Image:
    """``img`` grown by ``pixels`` on every side, repeating its edge pixels outwards, so a
    bilinear sample at the frame's border never reaches a neighbouring frame."""
    if pixels <= 0:
        return img
    data = np.asarray(img)
    grown = np.pad(data, ((pixels, pixels), (pixels, pixels), (0, 0)), mode="edge")
    return Image.fromarray(grown, "RGBA")


def resize_nearest(img: Image.Image, width: int, height: int) -> Image.Image:
    """Nearest-neighbour resize: pixel art keeps hard edges and its exact palette."""
    if img.size == (width, height):
        return img
    return img.resize((width, height), Image.Resampling.NEAREST)


def png_bytes(img: Image.Image) -> bytes:
    """PNG bytes of ``img`` with fixed settings and no timestamp or text chunks."""
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buf.getvalue()
