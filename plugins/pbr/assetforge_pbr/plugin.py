"""The ``pbr`` plugin's hooks: the ``maps``/``normal``/``pbr`` keys and the derived step.

Manifest::

    [texture.floor_stone]
    prompt = "stone floor tiles"
    maps = ["normal", "height"]           # writes textures/floor_stone_normal.png, …_height.png
    normal = { strength = 3.0 }           # convention = "opengl" (default) or "directx"

Each map is a derived output of its own (hook ``register_derived_outputs``): the core plans it
after the texture is final, makes it from the texture as it is on disk, and caches and records
it with a recipe of the step's name, version and the map's ``params``. Textures that tile (the
seamless plugin's ``tiling``) get maps computed with wrap-around neighbours on the tiled axes.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from assetforge.api import (
    DerivedFile,
    DerivedStep,
    ManifestKey,
    Problem,
    UserError,
    for_keys,
    hookimpl,
)

from . import MAPS, __version__
from .config import (
    PLUGIN_NAME,
    MapOptions,
    checker,
    options_of,
    parse_maps,
    parse_normal,
    parse_pbr,
    settings_problems,
    suffixes,
)

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import AssetSpec, Job, Project

TILED_AXES = {"x": ["x"], "y": ["y"], "both": ["x", "y"]}


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """Declare ``maps``, ``normal`` and ``pbr``, for every kind."""
    return [
        ManifestKey("maps", (list,), f"PBR maps written beside the image: any of "
                    f"{', '.join(map(repr, MAPS))}", check=checker(parse_maps)),
        ManifestKey("normal", (dict,), 'normal map options: {strength = 2.0, convention = '
                    '"opengl" (green = +Y) | "directx"}', check=checker(parse_normal)),
        ManifestKey("pbr", (dict,), "map options: {blur, invert, roughness = [low, high], "
                    "ao_radius, ao_strength, suffixes = {normal = \"_n\", …}}",
                    check=checker(parse_pbr)),
    ]


@hookimpl
@for_keys("maps", "normal", "pbr")
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """Options for maps that are not asked for, ``[plugins.pbr]`` mistakes, shared names."""
    try:
        maps = options_of(spec)
    except UserError:
        return None  # the keys' own checks report malformed values
    problems = []
    if "normal" in spec.explicit and (maps is None or "normal" not in maps.maps):
        problems.append(Problem(spec.where("normal"), "normal",
                                'normal map options given, but "normal" is not in maps'))
    if maps is None:
        return problems or None
    problems += settings_problems(project)
    if not problems:
        try:
            suffixes(spec, project)
        except UserError as e:
            problems += e.problems
    return problems or None


def wrap_axes(spec: AssetSpec) -> list[str]:
    """The axes a texture tiles along (seamless plugin's ``tiling``): ``[]``, ``["x"]``, …"""
    return TILED_AXES.get(spec.get("tiling") or "none", [])


def map_params(name: str, options: MapOptions, wrap: list[str]) -> dict[str, Any]:
    """Everything that changes map ``name``'s bytes (the map name too: two maps with equal
    settings must not share a cache key)."""
    height = {"blur": options.blur, "invert": options.invert}
    if name == "normal":
        return {"map": name, **height, "strength": options.strength,
                "convention": options.convention, "wrap": wrap}
    if name == "height":
        return {"map": name, **height, "wrap": wrap if options.blur > 0 else []}
    if name == "roughness":
        return {"map": name, "range": list(options.roughness)}
    return {"map": name, **height, "radius": options.ao_radius,
            "strength": options.ao_strength, "wrap": wrap}


def derived_files(job: Job, project: Project) -> list[DerivedFile]:
    """One file per asked-for map, beside the job's output: ``textures/ID_normal.png``."""
    options = options_of(job.spec)
    if options is None:
        return []
    names = suffixes(job.spec, project)
    folder, base = posixpath.split(job.output)
    stem = posixpath.splitext(base)[0]
    wrap = wrap_axes(job.spec)
    return [DerivedFile(name, posixpath.join(folder, f"{stem}{names[name]}.png"),
                        map_params(name, options, wrap))
            for name in options.maps]


def make_map(image: Image.Image, file: DerivedFile, project: Project) -> Image.Image:
    """Make one map from the finished image; everything it uses is in ``file.params``."""
    import numpy as np
    from PIL import Image

    from . import maps

    p = file.params
    rgb = np.asarray(image.convert("RGB"))
    wrap = ("x" in p.get("wrap", []), "y" in p.get("wrap", []))
    if p["map"] == "roughness":
        return Image.fromarray(maps.roughness_map(rgb, *p["range"]), "L")
    if p["map"] == "normal":
        return Image.fromarray(maps.normal_map(rgb, p["blur"], p["invert"], p["strength"],
                                               p["convention"], wrap), "RGB")
    h = maps.height_field(rgb, p["blur"], p["invert"], wrap)
    if p["map"] == "height":
        return Image.fromarray(maps.to_grey(maps.stretch(h)), "L")
    return Image.fromarray(maps.ao_map(h, p["radius"], p["strength"], wrap), "L")


STEP = DerivedStep(PLUGIN_NAME, __version__, derived_files, make_map,
                   keys=frozenset({"maps"}))


@hookimpl
def register_derived_outputs() -> list[DerivedStep]:
    """The ``pbr`` step: normal, height, roughness and ao maps of assets with ``maps``."""
    return [STEP]
