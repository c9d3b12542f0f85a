"""The manifest keys of ``[atlas.ID]`` and ``[tileset.ID]``, their defaults and checks."""

from __future__ import annotations

import re
from typing import Any

from assetforge.api import AssetSpec, ManifestKey, Problem

ATLAS = ("atlas",)
TILESET = ("tileset",)
BOTH = ("atlas", "tileset")

ATLAS_DEFAULTS: dict[str, Any] = {
    "padding": 2, "extrude": 1, "trim": False, "power_of_two": False, "max_size": 4096,
    "allow_rotation": False,
}
TILESET_DEFAULTS: dict[str, Any] = {
    "tile_width": 32, "tile_height": 32, "columns": 8, "spacing": 0, "margin": 0,
    "resize": True,
}
# An entry of frames/tiles: an id, "id:view", or a shell-style pattern over ids; "@" optional.
_ENTRY_RE = re.compile(r"@?[A-Za-z0-9_\-*?\[\]!]+(:[A-Za-z0-9_\-]+)?")
ENTRIES = {"minItems": 1, "items": {"type": "string", "pattern": f"^{_ENTRY_RE.pattern}$"}}


def _entries(v: list) -> str | None:
    if not v:
        return "must list at least one asset id or pattern (or use kinds = [...])"
    for entry in v:
        if not isinstance(entry, str) or not _ENTRY_RE.fullmatch(entry):
            return (f"expected asset ids, 'id:view' or shell-style patterns such as 'wall_*' "
                    f"(got {entry!r})")
    return None


def _kinds(v: list) -> str | None:
    if not v or not all(isinstance(k, str) and k for k in v):
        return "must be a non-empty list of asset kind names, such as [\"tile\"]"
    return None


def _int_range(lo: int, hi: int):
    def check(v: int) -> str | None:
        return None if lo <= v <= hi else f"must be between {lo} and {hi}"
    return check


def _pivots(v: dict) -> str | None:
    for name, xy in v.items():
        if (not isinstance(xy, list) or len(xy) != 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in xy)):
            return f"{name!r}: expected [x, y], fractions of the frame (0.5, 1.0 = bottom centre)"
    return None


def manifest_keys() -> list[ManifestKey]:
    return [
        ManifestKey("frames", (list,), "atlas frames: asset ids, 'id:view' or patterns such as "
                    "'wall_*'; a character adds every view", kinds=ATLAS, check=_entries,
                    schema=ENTRIES),
        ManifestKey("tiles", (list,), "tileset tiles: asset ids, 'id:view' or patterns",
                    kinds=TILESET, check=_entries, schema=ENTRIES),
        ManifestKey("kinds", (list,), "every asset of these kinds, e.g. [\"tile\"]", kinds=BOTH,
                    check=_kinds, schema={"minItems": 1, "items": {"type": "string",
                                                                    "minLength": 1}}),
        ManifestKey("padding", (int,), "pixels between frames (default 2)", kinds=ATLAS,
                    check=_int_range(0, 64),
                    schema={"minimum": 0, "maximum": 64}),
        ManifestKey("extrude", (int,), "edge pixels repeated around each frame (default 1)",
                    kinds=ATLAS, check=_int_range(0, 32),
                    schema={"minimum": 0, "maximum": 32}),
        ManifestKey("trim", (bool,), "crop transparent borders, recording the offsets",
                    kinds=ATLAS),
        ManifestKey("power_of_two", (bool,), "page sides are powers of two", kinds=ATLAS),
        ManifestKey("max_size", (int,), "largest page side (default 4096); more frames go to "
                    "further pages ID-1.png, …", kinds=ATLAS, check=_int_range(16, 16384),
                    schema={"minimum": 16, "maximum": 16384}),
        ManifestKey("allow_rotation", (bool,), "frames may be turned 90° to pack tighter",
                    kinds=ATLAS),
        ManifestKey("pivots", (dict,), "frame name or pattern = [x, y] anchor fractions",
                    kinds=ATLAS, check=_pivots, schema={"additionalProperties": {
                        "type": "array", "items": {"type": "number"}, "minItems": 2,
                        "maxItems": 2}}),
        ManifestKey("tile_width", (int,), "tile width in pixels (default 32)", kinds=TILESET,
                    check=_int_range(1, 4096),
                    schema={"minimum": 1, "maximum": 4096}),
        ManifestKey("tile_height", (int,), "tile height in pixels (default 32)", kinds=TILESET,
                    check=_int_range(1, 4096),
                    schema={"minimum": 1, "maximum": 4096}),
        ManifestKey("columns", (int,), "tiles per row (default 8)", kinds=TILESET,
                    check=_int_range(1, 1024),
                    schema={"minimum": 1, "maximum": 1024}),
        ManifestKey("spacing", (int,), "pixels between tiles (default 0)", kinds=TILESET,
                    check=_int_range(0, 256),
                    schema={"minimum": 0, "maximum": 256}),
        ManifestKey("margin", (int,), "pixels around the grid (default 0)", kinds=TILESET,
                    check=_int_range(0, 256),
                    schema={"minimum": 0, "maximum": 256}),
        ManifestKey("resize", (bool,), "resize tiles of another size with the nearest filter "
                    "(default true); false refuses them", kinds=TILESET),
    ]


def option(spec: AssetSpec, key: str) -> Any:
    """``key`` of ``spec`` after kind defaults, falling back to the plugin's default."""
    defaults = ATLAS_DEFAULTS if spec.kind == "atlas" else TILESET_DEFAULTS
    value = spec.get(key)
    return defaults.get(key) if value is None else value


def check_selection(spec: AssetSpec) -> list[Problem]:
    """An atlas needs ``frames`` or ``kinds``; a tileset ``tiles`` or ``kinds``."""
    key = "frames" if spec.kind == "atlas" else "tiles"
    if spec.get(key) is None and spec.get("kinds") is None:
        article = "an" if spec.kind == "atlas" else "a"
        return [Problem(spec.location, f"{spec.kind}.{spec.id}.{key}",
                        f"missing: {article} {spec.kind} needs {key} = [\"id\", \"pattern_*\", "
                        f"…] or kinds = [\"tile\"]")]
    return []
