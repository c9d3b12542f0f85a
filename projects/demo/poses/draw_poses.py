"""Draw the hero's pose images (white stick figures on black, 64x96) for its ControlNet:
one per view, and the eight frames of its walk cycle in ``walk/00.png`` … ``walk/07.png``.

Run once from the repository root: ``python projects/demo/poses/draw_poses.py``. Deterministic
(fixed coordinates, no antialiasing choices left to chance), so rerunning rewrites identical
PNGs. The ControlNet stretches them to the character size (128x192, the same 2:3 shape).
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = (64, 96)
WIDTH = 3  # limb thickness in pixels
# Each pose: head centre and radius, then limbs as polylines of (x, y) joints.
POSES: dict[str, dict] = {
    "front": {  # facing us, lantern arm raised, feet apart
        "head": (32, 14, 7),
        "limbs": [[(32, 21), (32, 56)],                 # spine
                  [(32, 28), (20, 36), (14, 24)],       # left arm, raised lantern
                  [(32, 28), (44, 40), (46, 52)],       # right arm, down
                  [(32, 56), (24, 72), (22, 90)],       # left leg
                  [(32, 56), (40, 72), (42, 90)]],      # right leg
    },
    "side": {  # profile, walking to the right
        "head": (34, 14, 7),
        "limbs": [[(33, 21), (31, 56)],
                  [(32, 28), (40, 40), (46, 46)],       # front arm swinging forward
                  [(32, 28), (26, 40), (22, 50)],       # back arm swinging back
                  [(31, 56), (40, 72), (46, 88)],       # front leg striding
                  [(31, 56), (26, 73), (18, 86)]],      # back leg
    },
    "back": {  # from behind, arms down, feet together
        "head": (32, 14, 7),
        "limbs": [[(32, 21), (32, 56)],
                  [(32, 28), (22, 42), (20, 56)],
                  [(32, 28), (42, 42), (44, 56)],
                  [(32, 56), (28, 74), (28, 90)],
                  [(32, 56), (36, 74), (36, 90)]],
    },
}


def draw(pose: dict) -> Image.Image:
    img = Image.new("RGB", SIZE, "black")
    pen = ImageDraw.Draw(img)
    x, y, r = pose["head"]
    pen.ellipse((x - r, y - r, x + r, y + r), outline="white", width=WIDTH)
    for limb in pose["limbs"]:
        pen.line(limb, fill="white", width=WIDTH, joint="curve")
    return img


WALK_FRAMES = 8


def walk_pose(k: int) -> dict:
    """Frame k of a side-view walk cycle: legs swing in opposite phase, arms against them,
    the body bobs down at each stride's widest point; frame 8 would be frame 0 again."""
    phase = 2 * math.pi * k / WALK_FRAMES
    swing = math.sin(phase)
    bob = round(2 * abs(swing))
    hip, shoulder = (32, 56 + bob), (32, 28 + bob)

    def leg(s: float) -> list[tuple[int, int]]:
        knee = (round(32 + 9 * s), 72 + bob)
        return [hip, knee, (round(32 + 14 * s), 90)]

    def arm(s: float) -> list[tuple[int, int]]:
        return [shoulder, (round(32 + 7 * s), 40 + bob), (round(32 + 11 * s), 50 + bob)]

    return {"head": (33, 14 + bob, 7),
            "limbs": [[(32, 21 + bob), hip], leg(swing), leg(-swing), arm(-swing), arm(swing)]}


def main() -> None:
    here = Path(__file__).resolve().parent
    for name, pose in POSES.items():
        draw(pose).save(here / f"{name}.png", optimize=False)
    (here / "walk").mkdir(exist_ok=True)
    for k in range(WALK_FRAMES):
        draw(walk_pose(k)).save(here / "walk" / f"{k:02d}.png", optimize=False)


if __name__ == "__main__":
    main()
