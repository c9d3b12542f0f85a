"""Sprite atlases: trim, extrude, pack and draw frames onto pages; write their JSON.

Pure functions over Pillow images; the ``atlas`` step (steps.py) feeds them the input files.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from .images import Box, crop, extrude, opaque_box, png_bytes
from .packing import PackError, Packing, pack, page_limit
from .texturepacker import FrameEntry, page_json


@dataclass(frozen=True)
class AtlasOptions:
    padding: int = 2
    extrude: int = 1
    trim: bool = False
    power_of_two: bool = False
    max_size: int = 4096
    allow_rotation: bool = False


@dataclass(frozen=True)
class SourceFrame:
    name: str  # "hero/front", "wall_brick"
    image: Image.Image  # RGBA
    pivot: tuple[float, float] | None = None


@dataclass(frozen=True)
class Page:
    stem: str  # "atlases/characters", "atlases/characters-1"
    image: Image.Image
    entries: list[FrameEntry]


def page_stem(stem: str, page: int) -> str:
    """Page 0 is ``ID``; further pages are ``ID-1``, ``ID-2``, … (TexturePacker's ``{n}``)."""
    return stem if page == 0 else f"{stem}-{page}"


def _kept(frame: SourceFrame, trim: bool) -> tuple[Image.Image, Box]:
    full = Box(0, 0, frame.image.width, frame.image.height)
    if not trim:
        return frame.image, full
    box = opaque_box(frame.image)
    return (frame.image, full) if box == full else (crop(frame.image, box), box)


def layout(frames: list[SourceFrame], options: AtlasOptions, stem: str) -> list[Page]:
    """Pack ``frames`` (any order; they are sorted by name) onto pages and draw them."""
    frames = sorted(frames, key=lambda f: f.name)
    kept = [_kept(f, options.trim) for f in frames]
    grow = 2 * options.extrude
    sizes = [(img.width + grow, img.height + grow) for img, _ in kept]
    limit = page_limit(options.max_size, options.power_of_two)
    for frame, (w, h) in zip(frames, sizes, strict=True):
        if w > limit or h > limit:
            raise PackError(f"frame {frame.name!r} is {w}×{h} (with extrude), larger than a "
                            f"{limit}×{limit} page")
    # A character's views stay on one page, so its animation resolves within one sheet.
    group_of: dict[str, int] = {}
    groups = [group_of.setdefault(f.name.split("/")[0], len(group_of)) for f in frames]
    packing: Packing = pack(sizes, padding=options.padding, max_size=options.max_size,
                            allow_rotation=options.allow_rotation,
                            power_of_two=options.power_of_two, groups=groups)
    pages = [Page(page_stem(stem, i), Image.new("RGBA", size, (0, 0, 0, 0)), [])
             for i, size in enumerate(packing.pages)]
    for frame, (img, box), place in zip(frames, kept, packing.placements, strict=True):
        # Rotated frames lie turned 90° clockwise (TexturePacker's convention).
        drawn = img.transpose(Image.Transpose.ROTATE_270) if place.rotated else img
        page = pages[place.page]
        page.image.paste(extrude(drawn, options.extrude), (place.x, place.y))
        at = Box(place.x + options.extrude, place.y + options.extrude, img.width, img.height)
        page.entries.append(FrameEntry(
            name=frame.name, frame=at, rotated=place.rotated,
            trimmed=box != Box(0, 0, frame.image.width, frame.image.height),
            sprite_source=box, source_size=frame.image.size, pivot=frame.pivot))
    return pages


def atlas_files(frames: list[SourceFrame], options: AtlasOptions, stem: str,
                animations: dict[str, list[str]], version: str,
                timing: dict[str, tuple[float, str]] | None = None,
                godot: bool = False) -> dict[str, bytes]:
    """``{stem}.png`` + ``{stem}.json`` (and ``{stem}-N.*`` per further page); with
    ``godot``, ``{stem}.tres`` (Godot 4) and ``{stem}.godot3.tres`` (Godot 3).

    Every page lists the others' JSON in ``meta.related_multi_packs`` (PixiJS loads them
    with the first). A page lists each animation's frames that it holds (PixiJS resolves an
    animation within one page); a character's views share a page unless they outgrow one.
    """
    pages = layout(frames, options, stem)
    files: dict[str, bytes] = {}
    for page in pages:
        base = page.stem.rsplit("/", 1)[-1]
        related = [f"{p.stem.rsplit('/', 1)[-1]}.json" for p in pages if p is not page]
        here = {e.name for e in page.entries}
        anims = {name: [n for n in names if n in here] for name, names in animations.items()}
        files[f"{page.stem}.png"] = png_bytes(page.image)
        files[f"{page.stem}.json"] = page_json(image=f"{base}.png", size=page.image.size,
                                               frames=page.entries,
                                               animations={k: v for k, v in anims.items() if v},
                                               related=related, version=version,
                                               timing=timing)
    if godot:
        from .godot import godot_animations, sprite_frames_3, sprite_frames_4

        if any(e.rotated for p in pages for e in p.entries):
            raise PackError("godot = true needs allow_rotation = false (an AtlasTexture "
                            "region cannot be turned)")
        regions = [(f"{p.stem.rsplit('/', 1)[-1]}.png", p.entries) for p in pages]
        anims_all = godot_animations([e for p in pages for e in p.entries], animations,
                                     timing or {})
        files[f"{stem}.tres"] = sprite_frames_4(regions, anims_all)
        files[f"{stem}.godot3.tres"] = sprite_frames_3(regions, anims_all)
    return files
