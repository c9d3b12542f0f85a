"""The anchor of a figure and the shift that puts it at a fixed point (numpy, Pillow).

Centring frames on their bounding boxes makes a walking character slide: a stride widens the
box behind or ahead of the body. The anchor is steadier: its y is the feet line (the lowest
row with opaque pixels), its x the alpha-weighted centre of the lowest part of the figure
(``FOOT_BAND`` of its height above the feet line, at least two rows). Each frame is moved by
whole pixels so its anchor lands on (width / 2, height − 1 − margin): the anchors of aligned
frames differ by less than one pixel.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from . import ALPHA_MIN, FOOT_BAND


def anchor(alpha: np.ndarray) -> tuple[float, float] | None:
    """(x, y) of the anchor of an alpha channel (H × W uint8); None when it is empty."""
    mask = alpha >= ALPHA_MIN
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    top, bottom = int(rows[0]), int(rows[-1])
    band = max(2, round(FOOT_BAND * (bottom - top + 1)))
    part = alpha[max(top, bottom - band + 1):bottom + 1].astype(np.float64)
    part[part < ALPHA_MIN] = 0
    xs = np.arange(alpha.shape[1], dtype=np.float64) + 0.5  # pixel centres
    x = float((part.sum(axis=0) * xs).sum() / part.sum())
    return x, float(bottom + 1)


def bbox_centre(alpha: np.ndarray) -> tuple[float, float] | None:
    """The centre of the opaque bounding box: what naive centring aligns (for comparison)."""
    mask = alpha >= ALPHA_MIN
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return (cols[0] + cols[-1] + 1) / 2, (rows[0] + rows[-1] + 1) / 2


def target(width: int, height: int, margin: int = 0) -> tuple[float, float]:
    return width / 2, float(height - margin)


def shift(image: Image.Image, dx: int, dy: int) -> Image.Image:
    """``image`` moved by whole pixels; what leaves the frame is cut, what enters is clear."""
    out = Image.new("RGBA", image.size, (0, 0, 0, 0))
    out.paste(image.convert("RGBA"), (dx, dy))
    return out


def align(image: Image.Image, margin: int = 0
          ) -> tuple[Image.Image, dict[str, list[float]] | None]:
    """``image`` with its anchor moved onto the target; the anchor before and after."""
    rgba = image.convert("RGBA")
    found = anchor(np.asarray(rgba)[..., 3])
    if found is None:
        return rgba, None
    tx, ty = target(rgba.width, rgba.height, margin)
    dx, dy = round(tx - found[0]), round(ty - found[1])
    info = {"raw": [round(found[0], 3), found[1]],
            "aligned": [round(found[0] + dx, 3), found[1] + dy], "shift": [dx, dy]}
    return shift(rgba, dx, dy), info


def jitter(anchors: list[tuple[float, float]], closed: bool = False) -> float:
    """The largest distance between consecutive anchors (and last → first when ``closed``)."""
    pairs = list(zip(anchors, anchors[1:], strict=False))
    if closed and len(anchors) > 1:
        pairs.append((anchors[-1], anchors[0]))
    return max((float(np.hypot(a[0] - b[0], a[1] - b[1])) for a, b in pairs), default=0.0)
