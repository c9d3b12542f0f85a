"""The manifest keys of ``[terrain.ID]``, their defaults and checks."""

from __future__ import annotations

import re
from typing import Any

from assetforge.api import AssetSpec, ManifestKey

from .layout import DEFAULT_COLUMNS, LAYOUTS

TERRAIN = ("terrain",)
DEFAULTS: dict[str, Any] = {"layout": "blob", "tile_size": 32}
FILTERS = ("smooth", "nearest")
TRANSITION_KEYS = ("prompt", "negative_prompt", "strength", "width", "steps", "guidance")
TRANSITION_DEFAULTS: dict[str, Any] = {"negative_prompt": "", "strength": 0.5, "width": 0.5,
                                       "steps": 20, "guidance": 7.0}
_REF_RE = re.compile(r"@[A-Za-z0-9_\-]+")


def _terrains(v: list) -> str | None:
    if len(v) != 2:
        return (f"expected exactly two asset references, lower terrain first: "
                f"[\"@dirt\", \"@grass\"] (got {len(v)})")
    for ref in v:
        if not isinstance(ref, str) or not _REF_RE.fullmatch(ref):
            return f"expected \"@ID\" references to tiling textures (got {ref!r})"
    if v[0] == v[1]:
        return "the two terrains must be different assets"
    return None


def _layout(v: str) -> str | None:
    return None if v in LAYOUTS else f"must be one of {', '.join(LAYOUTS)} (got {v!r})"


def _range(lo: int, hi: int):
    def check(v: int) -> str | None:
        return None if lo <= v <= hi else f"must be between {lo} and {hi}"
    return check


def _filter(v: str) -> str | None:
    return None if v in FILTERS else f"must be one of {', '.join(FILTERS)} (got {v!r})"


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _transition(v: dict) -> str | None:
    for key in v:
        if key not in TRANSITION_KEYS:
            return f"unknown key {key!r}; known: {', '.join(TRANSITION_KEYS)}"
    if not isinstance(v.get("prompt"), str) or not v["prompt"].strip():
        return "prompt: missing (what the band where the terrains meet looks like)"
    if not isinstance(v.get("negative_prompt", ""), str):
        return "negative_prompt: expected a string"
    s = v.get("strength", TRANSITION_DEFAULTS["strength"])
    if not _number(s) or not 0 < s <= 1:
        return "strength: must be greater than 0 and at most 1"
    w = v.get("width", TRANSITION_DEFAULTS["width"])
    if not _number(w) or not 0 < w <= 1:
        return "width: the band's width as a fraction of the tile interior, in (0, 1]"
    st = v.get("steps", TRANSITION_DEFAULTS["steps"])
    if not isinstance(st, int) or isinstance(st, bool) or not 1 <= st <= 1000:
        return "steps: an integer between 1 and 1000"
    g = v.get("guidance", TRANSITION_DEFAULTS["guidance"])
    if not _number(g) or not 0 <= g <= 50:
        return "guidance: a number between 0 and 50"
    if int(st * s) < 1:
        return f"strength {s:g} x {st} steps runs no denoising step; raise steps or strength"
    return None


def manifest_keys() -> list[ManifestKey]:
    return [
        ManifestKey("terrains", (list,), "the two terrain textures, lower first: "
                    "[\"@dirt\", \"@grass\"]", kinds=TERRAIN, check=_terrains),
        ManifestKey("layout", (str,), "\"blob\" (47 + 1 tiles, 3×3 minimal) or \"corner\" "
                    "(16 Wang corner tiles); default blob", kinds=TERRAIN, check=_layout),
        ManifestKey("tile_size", (int,), "tile side in pixels (default 32)", kinds=TERRAIN,
                    check=_range(8, 1024)),
        ManifestKey("columns", (int,), "tiles per row of the PNG (default 4 for corner, 8 for "
                    "blob)", kinds=TERRAIN, check=_range(1, 64)),
        ManifestKey("filter", (str,), "how the terrains are resized to the tile size: "
                    "\"smooth\" (Lanczos) or \"nearest\"; default nearest when a terrain sets "
                    "pixel_art, else smooth", kinds=TERRAIN, check=_filter),
        ManifestKey("transition", (dict,), "repaint the band where the terrains meet with the "
                    "model: {prompt = …, strength = 0.5, width = 0.5}", kinds=TERRAIN,
                    check=_transition),
    ]


def option(spec: AssetSpec, key: str) -> Any:
    value = spec.get(key)
    if value is not None:
        return value
    if key == "columns":
        return DEFAULT_COLUMNS[option(spec, "layout")]
    return DEFAULTS.get(key)


def transition_options(spec: AssetSpec) -> dict[str, Any] | None:
    t = spec.get("transition")
    if not t:
        return None
    return {**TRANSITION_DEFAULTS, **{k: v for k, v in t.items()}}
