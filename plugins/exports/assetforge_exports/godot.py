"""Godot ``SpriteFrames`` resources of an atlas (``godot = true``): ``ID.tres`` for Godot 4
(``format=3``) and ``ID.godot3.tres`` for Godot 3 (``format=2``).

Each frame is an ``AtlasTexture`` (a region of an atlas page, ``margin`` giving back a trimmed
frame's transparent border). Each animation (``hero/walk``) lists its frames with ``speed`` =
fps and ``loop``; ``pingpong`` (which SpriteFrames lacks) is written out as the frames forward
then back (0…N-1, N-2…1), looping; ``once`` does not loop. Every frame that belongs to no
animation (a character's view, a texture) is a one-frame animation named after the frame.
Pages are referenced by file name, relative to the ``.tres`` (they lie side by side).
Godot 4's editor writes animation names as StringName literals (``&"walk"``); a plain string
loads the same (``SpriteFrames`` converts it) and stays readable by text parsers such as
godot-parser, so names are written as plain strings in both files.
"""

from __future__ import annotations

from dataclasses import dataclass

from .texturepacker import FrameEntry

DEFAULT_SPEED = 10.0


@dataclass(frozen=True)
class GodotAnimation:
    name: str
    frames: list[str]  # frame names, in play order
    speed: float
    loop: bool


def godot_animations(entries: list[FrameEntry], animations: dict[str, list[str]],
                     timing: dict[str, tuple[float, str]]) -> list[GodotAnimation]:
    """Timed animations first (by name), then one-frame animations of the other frames."""
    out = []
    used: set[str] = set()
    for name in sorted(timing):
        frames = animations.get(name, [])
        if not frames:
            continue
        fps, loop = timing[name]
        used.update(frames)
        order = frames + frames[-2:0:-1] if loop == "pingpong" else frames
        out.append(GodotAnimation(name, order, float(fps), loop != "once"))
    for e in sorted(entries, key=lambda e: e.name):
        if e.name not in used:
            out.append(GodotAnimation(e.name, [e.name], DEFAULT_SPEED, True))
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _num(v: float) -> str:
    return repr(float(v))


def _regions(pages: list[tuple[str, list[FrameEntry]]]
             ) -> tuple[list[str], dict[str, tuple[int, FrameEntry]]]:
    images = [image for image, _ in pages]
    where = {e.name: (i, e) for i, (_, entries) in enumerate(pages) for e in entries}
    return images, where


def _margin(e: FrameEntry) -> tuple[int, int, int, int] | None:
    if not e.trimmed:
        return None
    s = e.sprite_source
    return (s.x, s.y, e.source_size[0] - s.w, e.source_size[1] - s.h)


def _used(anims: list[GodotAnimation]) -> list[str]:
    return list(dict.fromkeys(f for a in anims for f in a.frames))


def sprite_frames_4(pages: list[tuple[str, list[FrameEntry]]],
                    anims: list[GodotAnimation]) -> bytes:
    images, where = _regions(pages)
    frames = _used(anims)
    lines = [f'[gd_resource type="SpriteFrames" load_steps={len(images) + len(frames) + 1} '
             'format=3]', ""]
    for i, image in enumerate(images):
        lines.append(f'[ext_resource type="Texture2D" path={_quote(image)} id="{i + 1}"]')
    lines.append("")
    ids = {}
    for n, name in enumerate(frames):
        page, e = where[name]
        ids[name] = f"AtlasTexture_{n + 1}"
        f = e.frame
        lines += [f'[sub_resource type="AtlasTexture" id="{ids[name]}"]',
                  f'atlas = ExtResource("{page + 1}")',
                  f"region = Rect2({f.x}, {f.y}, {f.w}, {f.h})"]
        m = _margin(e)
        if m is not None:
            lines.append(f"margin = Rect2({m[0]}, {m[1]}, {m[2]}, {m[3]})")
        lines.append("")
    blocks = []
    for a in anims:
        frame_list = ", ".join(f'{{\n"duration": 1.0,\n"texture": SubResource("{ids[f]}")\n}}'
                               for f in a.frames)
        blocks.append(f'{{\n"frames": [{frame_list}],\n"loop": {str(a.loop).lower()},\n'
                      f'"name": {_quote(a.name)},\n"speed": {_num(a.speed)}\n}}')
    lines += ["[resource]", f"animations = [{', '.join(blocks)}]", ""]
    return "\n".join(lines).encode()


def sprite_frames_3(pages: list[tuple[str, list[FrameEntry]]],
                    anims: list[GodotAnimation]) -> bytes:
    images, where = _regions(pages)
    frames = _used(anims)
    lines = [f'[gd_resource type="SpriteFrames" load_steps={len(images) + len(frames) + 1} '
             'format=2]', ""]
    for i, image in enumerate(images):
        lines.append(f'[ext_resource path={_quote(image)} type="Texture" id={i + 1}]')
    lines.append("")
    ids = {}
    for n, name in enumerate(frames):
        page, e = where[name]
        ids[name] = n + 1
        f = e.frame
        lines += [f'[sub_resource type="AtlasTexture" id={n + 1}]',
                  f"atlas = ExtResource( {page + 1} )",
                  f"region = Rect2( {f.x}, {f.y}, {f.w}, {f.h} )"]
        m = _margin(e)
        if m is not None:
            lines.append(f"margin = Rect2( {m[0]}, {m[1]}, {m[2]}, {m[3]} )")
        lines.append("")
    blocks = []
    for a in anims:
        refs = ", ".join(f"SubResource( {ids[f]} )" for f in a.frames)
        blocks.append(f'{{\n"frames": [ {refs} ],\n"loop": {str(a.loop).lower()},\n'
                      f'"name": {_quote(a.name)},\n"speed": {_num(a.speed)}\n}}')
    lines += ["[resource]", f"animations = [ {', '.join(blocks)} ]", ""]
    return "\n".join(lines).encode()
