"""The TexturePacker JSON-hash format that PixiJS, Phaser and engine importers read.

One document per atlas page::

    {"frames": {"hero/front": {"frame": {x,y,w,h}, "rotated", "trimmed",
                               "spriteSourceSize": {x,y,w,h}, "sourceSize": {w,h},
                               "pivot": {x,y}, "anchor": {x,y}  (only when set)}, …},
     "animations": {"hero": ["hero/front", "hero/side", …]},   (only when there are some)
     "meta": {"app", "version", "image", "format": "RGBA8888", "size": {w,h}, "scale": "1",
              "related_multi_packs": ["ID-1.json", …]}   (only for multi-page atlases)}

``frame`` is where the (trimmed) pixels lie in the page; for a ``rotated`` frame its w and h
are the unrotated ones and the page holds it turned 90° clockwise, as TexturePacker writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .images import Box

APP = "AssetForge exports plugin"
FORMAT = "RGBA8888"


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
              animations: dict[str, list[str]], related: list[str], version: str) -> bytes:
    """The JSON-hash document of one page, as bytes: frames and animations sorted by name,
    keys in a fixed order, so the same atlas always gives the same bytes."""
    doc: dict[str, Any] = {
        "frames": {f.name: frame_json(f) for f in sorted(frames, key=lambda f: f.name)},
    }
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
    if related:
        meta["related_multi_packs"] = list(related)
    doc["meta"] = meta
    return (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
