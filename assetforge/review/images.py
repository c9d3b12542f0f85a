"""The review folder's images: both sides as they are (bytes copied), and a difference image."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image

from .model import Item

DIFF_GAIN = 4  # small differences stay visible
PIXEL_ART_COLORS = 256  # at most this many colours: scaled up without smoothing


def slug(text: str) -> str:
    """A file name for an item key. Asset ids never hold '~', so views ("hero#front") and
    derived outputs ("floor/normal") cannot collide with an asset id ("hero_front")."""
    text = text.replace("#", "~").replace("/", "~~")
    return re.sub(r"[^A-Za-z0-9_.~-]+", "_", text).strip("_") or "item"


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def difference(old: Image.Image, new: Image.Image) -> tuple[Image.Image, float]:
    """A difference image (channel-wise |new - old|, amplified, opaque) and the share of
    pixels that differ. Sizes that differ are compared on a canvas of the larger size."""
    w, h = max(old.width, new.width), max(old.height, new.height)
    a = np.zeros((h, w, 4), np.int16)
    b = np.zeros((h, w, 4), np.int16)
    a[:old.height, :old.width] = np.asarray(old.convert("RGBA"), np.int16)
    b[:new.height, :new.width] = np.asarray(new.convert("RGBA"), np.int16)
    delta = np.abs(b - a)
    changed = float((delta.max(axis=2) > 0).mean())
    rgb = np.clip(delta[:, :, :3].astype(np.int32) + delta[:, :, 3:4], 0, 255 // DIFF_GAIN)
    out = np.empty((h, w, 3), np.uint8)
    out[:] = rgb * DIFF_GAIN
    return Image.fromarray(out, "RGB"), changed


def write_item_images(item: Item, folder: Path) -> None:
    """Write ``item``'s images under ``folder/img`` and fill ``item.images`` (relative paths)."""
    name = slug(item.key)
    shown: Image.Image | None = None
    old_im = new_im = None
    for side_name, side in (("old", item.old), ("new", item.new)):
        if side is None or side.data is None:
            continue
        rel = f"img/{name}.{side_name}.png"
        (folder / rel).write_bytes(side.data)
        item.images[side_name] = rel
        try:
            im = _open(side.data)
        except OSError:
            continue
        if side_name == "old":
            old_im = im
        else:
            new_im = im
        shown = im
    if old_im is not None and new_im is not None:
        diff, item.diff_fraction = difference(old_im, new_im)
        rel = f"img/{name}.diff.png"
        diff.save(folder / rel, compress_level=1)
        item.images["diff"] = rel
    if shown is not None:
        item.size = [shown.width, shown.height]
        item.pixelated = shown.getcolors(PIXEL_ART_COLORS) is not None
