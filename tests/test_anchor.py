"""Anchor alignment of animation frames (plugins/animation): a figure that moves inside its
frame — it drifts and swings a leg and an arm — is aligned on its feet and the alpha mass just
above them, so its anchor stays within a pixel, where centring its bounding box slides."""

from __future__ import annotations

import numpy as np
from assetforge_animation.anchor import align, anchor, bbox_centre, jitter
from PIL import Image, ImageDraw


def figure(k: int, n: int = 8) -> Image.Image:
    """Frame k of a walk: body drifting right and bobbing, the front leg and the lantern arm
    swinging (they widen the bounding box on one side only)."""
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    phase = np.sin(2 * np.pi * k / n)
    x = 20 + 2 * k  # drifts: an unaligned generator places the figure anywhere
    bob = round(2 * abs(phase))
    d.ellipse((x - 4, 6 + bob, x + 4, 14 + bob), fill=(200, 160, 120, 255))  # head
    d.rectangle((x - 3, 14 + bob, x + 3, 40), fill=(40, 80, 200, 255))  # body
    d.rectangle((x - 3, 40, x, 54), fill=(60, 60, 60, 255))  # standing leg
    stride = round(10 * phase)
    d.line((x + 1, 40, x + 1 + stride, 54), fill=(60, 60, 60, 255), width=3)  # swinging leg
    reach = round(14 * max(phase, 0))
    d.line((x + 3, 20 + bob, x + 3 + reach, 26 + bob), fill=(230, 200, 40, 255), width=2)
    return im


def test_aligned_anchors_stay_within_a_pixel_where_bbox_centring_slides() -> None:
    frames = [figure(k) for k in range(8)]
    aligned = [align(f)[0] for f in frames]
    anchors = [anchor(np.asarray(a)[..., 3]) for a in aligned]
    assert all(a is not None for a in anchors)
    assert jitter(anchors, closed=True) <= 1.0
    # Centring each frame's bounding box instead: the box grows with the stride and the arm.
    centred = []
    for f in frames:
        cx, cy = bbox_centre(np.asarray(f)[..., 3])
        dx, dy = round(32 - cx), round(32 - cy)
        moved = Image.new("RGBA", f.size, (0, 0, 0, 0))
        moved.paste(f, (dx, dy))
        centred.append(anchor(np.asarray(moved)[..., 3]))
    assert jitter(centred, closed=True) > 2.0


def test_align_moves_whole_pixels_and_keeps_the_figure() -> None:
    f = figure(3)
    out, info = align(f)
    assert info is not None and info["shift"] != [0, 0]
    dx, dy = info["shift"]
    a, b = np.asarray(f), np.asarray(out)
    assert (a[..., 3] > 0).sum() == (b[..., 3] > 0).sum()  # nothing cut off
    ys, xs = np.nonzero(a[..., 3])
    assert (b[ys + dy, xs + dx] == a[ys, xs]).all()
    assert info["aligned"][1] == 64.0 and abs(info["aligned"][0] - 32) <= 0.5


def test_an_empty_frame_is_left_as_is() -> None:
    empty = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    out, info = align(empty)
    assert info is None and out.tobytes() == empty.tobytes()
