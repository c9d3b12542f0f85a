"""Animations shown as animated images: a lossless animated WebP per animation in ``review``,
and animated cells in the APNG contact sheet of ``sheet`` (Pillow only)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from ..interfaces import AssetSpec


def play_order(count: int, loop: str) -> list[int]:
    """Frame indices as the animation plays once round: pingpong goes back (0…N-1, N-2…1)."""
    order = list(range(count))
    return order + order[-2:0:-1] if loop == "pingpong" else order


def animated_webp(paths: list[Path], fps: float, loop: str) -> bytes:
    """The frames as a lossless animated WebP at ``fps`` (``once`` plays once)."""
    frames = []
    for p in paths:
        with Image.open(p) as im:
            frames.append(im.convert("RGBA"))
    shown = [frames[i] for i in play_order(len(frames), loop)]
    buf = io.BytesIO()
    shown[0].save(buf, format="WEBP", save_all=True, append_images=shown[1:], lossless=True,
                  duration=max(1, round(1000 / fps)), loop=1 if loop == "once" else 0)
    return buf.getvalue()


def frame_paths(spec: AssetSpec, output_dir: Path, folder: str) -> dict[str, list[Path]]:
    """Each animation's frame outputs, by name (only animations whose frames all exist)."""
    from ..manifest import output_path

    out = {}
    for anim in (spec.animations or {}).values():
        paths = [output_dir / output_path(spec, f, folder) for f in anim.frames]
        if all(p.is_file() for p in paths):
            out[anim.name] = paths
    return out


def review_animations(specs: list[AssetSpec], keys: set[str], output_dir: Path,
                      folders: dict[str, str]) -> list[dict[str, Any]]:
    """Animations with a frame among the review's items (``keys``: job ids), each with its
    animated WebP bytes (``data``) and the job ids of its frames."""
    out = []
    for spec in specs:
        if not spec.animations:
            continue
        found = frame_paths(spec, output_dir, folders.get(spec.kind, ""))
        for anim in spec.animations.values():
            jobs = [f"{spec.id}#{f}" for f in anim.frames]
            if anim.name in found and keys.intersection(jobs):
                out.append({"asset": spec.id, "name": anim.name, "fps": anim.fps,
                            "loop": anim.loop, "frames": jobs,
                            "image": f"img/anim-{spec.id}-{anim.name}.webp",
                            "data": animated_webp(found[anim.name], anim.fps, anim.loop)})
    return out
