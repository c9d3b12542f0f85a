"""The TexturePacker JSON-hash format that PixiJS, Phaser and engine importers read.

One document per atlas page::

    {"frames": {"hero/front": {"frame": {x,y,w,h}, "rotated", "trimmed",
                               "spriteSourceSize": {x,y,w,h}, "sourceSize": {w,h},
                               "duration": ms,
                               "pivot": {x,y}, "anchor": {x,y}  (only when set)}, …},
     "animations": {"hero": ["hero/front", …], "hero/walk": ["hero/walk/0", …]},
     "meta": {"app", "version", "image", "format": "RGBA8888", "size": {w,h}, "scale": "1",
              "frameTags": [{"name": "hero/walk", "from": 2, "to": 9,
                             "direction": "forward"}],   (only when there are animations)
              "related_multi_packs": ["ID-1.json", …]}   (only for multi-page atlases)}

Frames are listed in natural name order (``walk/2`` before ``walk/10``), so an animation's
frames are consecutive and ``frameTags`` (Aseprite's JSON: ``from``/``to`` inclusive indices
into ``frames``) point at them; ``duration`` (Aseprite's, ms) is 1000 / fps of the frame's
animation, 100 for a frame of none.

``frame`` is where the (trimmed) pixels lie in the page; for a ``rotated`` frame its w and h
are the unrotated ones and the page holds it turned 90° clockwise, as TexturePacker writes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .images import Box

APP = "AssetForge exports plugin"
FORMAT = "RGBA8888"
DEFAULT_DURATION = 100  # ms: a frame of no animation (10 fps)
DIRECTIONS = {"loop": "forward", "once": "forward", "pingpong": "pingpong"}


def natural_key(name: str) -> list[tuple[int, int | str]]:
    """``hero/walk/2`` before ``hero/walk/10``."""
    return [(0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", name) if t]


def duration_ms(fps: float) -> int:
    return max(1, round(1000 / fps))


@dataclass(frozen=True)
class FrameEntry:
    """One frame as the JSON describes it."""

    name: str
    frame: Box  # in the page; unrotated width and height
    rotated: bool
    trimmed: bool
    sprite_source: Box  # the kept pixels inside the source image
    source_size: tuple[int, int]
    pivot: tuple[float, float] | None = None


def _box(b: Box) -> dict[str, int]:
    return {"x": b.x, "y": b.y, "w": b.w, "h": b.h}


def frame_json(entry: FrameEntry) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "frame": _box(entry.frame),
        "rotated": entry.rotated,
        "trimmed": entry.trimmed,
        "spriteSourceSize": _box(entry.sprite_source),
        "sourceSize": {"w": entry.source_size[0], "h": entry.source_size[1]},
    }
    if entry.pivot is not None:
        # "pivot" is the JSON-hash name (Phaser); PixiJS reads the same point as "anchor".
        doc["pivot"] = {"x": entry.pivot[0], "y": entry.pivot[1]}
        doc["anchor"] = dict(doc["pivot"])
    return doc


def page_json(*, image: str, size: tuple[int, int], frames: list[FrameEntry],
              animations: dict[str, list[str]], related: list[str], version: str,
              timing: dict[str, tuple[float, str]] | None = None) -> bytes:
    """The JSON-hash document of one page, as bytes: frames and animations sorted by name,
    keys in a fixed order, so the same atlas always gives the same bytes. ``timing``:
    (fps, loop) of each timed animation (``hero/walk``)."""
    timing = timing or {}
    ordered = sorted(frames, key=lambda f: natural_key(f.name))
    durations = {n: duration_ms(timing[a][0]) for a, names in animations.items()
                 if a in timing for n in names}
    doc: dict[str, Any] = {
        "frames": {f.name: {**frame_json(f), "duration": durations.get(f.name,
                                                                       DEFAULT_DURATION)}
                   for f in ordered},
    }
    index = {f.name: i for i, f in enumerate(ordered)}
    tags = []
    for name in sorted(a for a in animations if a in timing and animations[a]):
        at = [index[n] for n in animations[name]]
        tag: dict[str, Any] = {"name": name, "from": min(at), "to": max(at),
                               "direction": DIRECTIONS[timing[name][1]]}
        if timing[name][1] == "once":
            tag["repeat"] = "1"
        tags.append(tag)
    if animations:
        doc["animations"] = {name: list(animations[name]) for name in sorted(animations)}
    meta: dict[str, Any] = {
        "app": APP,
        "version": version,
        "image": image,
        "format": FORMAT,
        "size": {"w": size[0], "h": size[1]},
        "scale": "1",
    }
    if tags:
        meta["frameTags"] = tags
    if related:
        meta["related_multi_packs"] = list(related)
    doc["meta"] = meta
    return (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
