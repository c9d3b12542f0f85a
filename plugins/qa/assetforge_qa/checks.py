"""The image checks themselves: pure functions of an image and thresholds. Torch-free.

Each returns ``(passed, value, message)``; the plugin turns that into a ``CheckResult`` with
the configured severity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

Verdict = tuple[bool, float, str]
OPAQUE = 128  # alpha at or above which a pixel counts as opaque


def blank(image: Image.Image, min_std: float) -> Verdict:
    """Flat or blank: the largest per-channel standard deviation (grey levels) is tiny."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    std = float(pixels.reshape(-1, 3).std(axis=0).max())
    ok = std >= min_std
    return ok, std, (f"pixel standard deviation {std:.2f}" if ok else
                     f"flat image: pixel standard deviation {std:.2f} is under {min_std:g}")


def cutout(image: Image.Image, min_opaque: float, max_border_opaque: float) -> Verdict | None:
    """An RGBA cutout with almost no opaque pixels, or opaque along its border (the subject
    was cut off, or the background was not removed). None for images without alpha."""
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return None
    alpha = np.asarray(image.convert("RGBA"))[:, :, 3] >= OPAQUE
    opaque = float(alpha.mean())
    border = np.concatenate([alpha[0, :], alpha[-1, :], alpha[1:-1, 0], alpha[1:-1, -1]])
    border_opaque = float(border.mean()) if border.size else 0.0
    if opaque < min_opaque:
        return False, opaque, (f"almost nothing opaque: {opaque:.1%} of pixels "
                               f"(min_opaque {min_opaque:g})")
    if border_opaque > max_border_opaque:
        return False, border_opaque, (f"opaque border: {border_opaque:.0%} of edge pixels "
                                      f"(max_border_opaque {max_border_opaque:g})")
    return True, opaque, f"{opaque:.1%} opaque, {border_opaque:.0%} of the border"


def palette(image: Image.Image, max_colors: int) -> Verdict:
    """More distinct colours than a pixel-art palette of ``max_colors`` allows."""
    found = image.convert("RGBA").getcolors(maxcolors=max_colors)
    if found is None:
        many = image.convert("RGBA").getcolors(maxcolors=1 << 24) or []
        return False, float(len(many)), (f"{len(many)} colours, more than the palette's "
                                         f"{max_colors}")
    return True, float(len(found)), f"{len(found)} colours (palette {max_colors})"


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
