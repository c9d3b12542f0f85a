"""The core plugin: asset kinds and the manifest keys every asset has.

Registered through the ``assetforge`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from .candidates import MAX_CANDIDATES, check_count
from .hookspecs import hookimpl
from .interfaces import AssetKind, ManifestKey

COMMON_DEFAULTS: dict[str, Any] = {
    "negative_prompt": "",
    "width": 512,
    "height": 512,
    "steps": 20,
    "guidance": 7.0,
    "scheduler": "euler_a",
}


@hookimpl
def register_asset_kinds() -> list[AssetKind]:
    """Textures, characters (optionally several views) and tiles."""
    return [
        AssetKind("texture", dict(COMMON_DEFAULTS), "textures"),
        AssetKind("character", dict(COMMON_DEFAULTS, width=512, height=768), "characters"),
        AssetKind("tile", dict(COMMON_DEFAULTS, width=256, height=256), "tiles"),
    ]


def _size(v: Any) -> str | None:
    if v < 8 or v > 8192:
        return "must be between 8 and 8192"
    if v % 8:
        return f"must be a multiple of 8 (the VAE downscales by 8); {v} is not"
    return None


def _range(lo: float, hi: float):
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"must be between {lo:g} and {hi:g}"
    return check


def _output(v: str) -> str | None:
    p = PurePosixPath(v.replace("\\", "/"))
    if p.is_absolute() or v.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", v):
        return "must be a path relative to output_dir"
    if ".." in p.parts:
        return "must stay inside output_dir (no '..')"
    if p.suffix.lower() != ".png":
        return "must end in .png"
    return None


def _views(v: Any) -> str | None:
    names = list(v) if isinstance(v, dict) else v
    if not names:
        return "must list at least one view"
    for name in names:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
            return f"view names must be letters, digits, '_' or '-' (got {name!r})"
    if isinstance(v, dict):
        for name, value in v.items():
            if isinstance(value, dict):
                if not isinstance(value.get("suffix", ""), str):
                    return f"views.{name}.suffix must be a string"
            elif not isinstance(value, str):
                return ("each view maps to a prompt suffix string, or a table "
                        "{ suffix = …, KEY = … }")
    if len(set(names)) != len(names):
        return "view names must be unique"
    return None


def _image(v: str) -> str | None:
    return None if v.strip() else 'must be "@ID" or a path relative to the project'


def _image_inputs(v: str) -> list[tuple[str, str]]:
    return [("image", v)]


def _tags(v: list) -> str | None:
    return None if all(isinstance(t, str) for t in v) else "must be a list of strings"


def _prompt(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


NAME_PATTERN = r"^[A-Za-z0-9_\-]+$"
SIZE = {"minimum": 8, "maximum": 8192, "multipleOf": 8}
# The type-independent parts of "views"; schema.py adds what a view table may hold per kind.
VIEWS_SCHEMA: dict[str, Any] = {"anyOf": [
    {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN}, "minItems": 1,
     "uniqueItems": True},
    {"type": "object", "minProperties": 1, "propertyNames": {"pattern": NAME_PATTERN}},
]}


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """The keys of every asset; scheduler and model names are checked by the core."""
    return [
        ManifestKey("prompt", (str,), "what to paint", check=_prompt,
                    schema={"minLength": 1}),
        ManifestKey("negative_prompt", (str,), "what to avoid"),
        ManifestKey("seed", (int,), "noise seed; derived from the asset id when absent",
                    check=_range(0, 2**32 - 1), schema={"minimum": 0, "maximum": 2**32 - 1}),
        ManifestKey("width", (int,), "image width in pixels, multiple of 8", check=_size,
                    schema=SIZE),
        ManifestKey("height", (int,), "image height in pixels, multiple of 8", check=_size,
                    schema=SIZE),
        ManifestKey("steps", (int,), "denoising steps", check=_range(1, 1000),
                    schema={"minimum": 1, "maximum": 1000}),
        ManifestKey("guidance", (float, int), "classifier-free guidance scale",
                    check=_range(0, 50), schema={"minimum": 0, "maximum": 50}),
        ManifestKey("scheduler", (str,), "sampler name: euler, euler_a, ddim, dpmpp_2m, …"),
        ManifestKey("model", (str,), "a [models.NAME] table of assetforge.toml"),
        ManifestKey("output", (str,), "output path relative to output_dir (.png)",
                    check=_output, schema={"pattern": r"\.[pP][nN][gG][/\\]*$"}),
        ManifestKey("views", (list, dict), "character views: a list of names, or "
                    "name = prompt suffix, or name = { suffix = …, KEY = … }",
                    kinds=("character",), check=_views, schema=VIEWS_SCHEMA),
        ManifestKey("image", (str,), 'a file-sourced asset: "path" in the project or "@ID" '
                    "(instead of prompt; nothing is generated)", check=_image,
                    inputs=_image_inputs, schema={"minLength": 1}),
        ManifestKey("description", (str,), "free text for people; does not affect the image"),
        ManifestKey("tags", (list,), "free labels; do not affect the image", check=_tags,
                    schema={"items": {"type": "string"}}),
        ManifestKey("candidates", (int,), "render N more seeds to pick from (assetforge pick); "
                    "does not affect the image", check=check_count,
                    schema={"minimum": 1, "maximum": MAX_CANDIDATES}),
    ]
