"""The ``atlas`` and ``tileset`` steps: many assets' outputs in, one atlas or tileset out.

``inputs`` expands the manifest's selection over the asset graph into named image inputs;
``params`` is everything else the bytes depend on (it goes into the recipe); ``run`` reads
the input files and returns the files to write, plus the state the next build starts from.
Pillow, numpy and rectpack are imported only by ``run``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from assetforge.api import (
    AssetSpec,
    AssetStep,
    Graph,
    InputRef,
    Problem,
    Project,
    StepResult,
    UserError,
)

from . import __version__
from .keys import option
from .packing import ALGORITHM
from .selection import (
    Pick,
    atlas_input_name,
    parse_atlas_input,
    parse_tile_input,
    previous_order,
    select,
    tile_input_name,
    tile_slots,
)

OUTPUT_DIRS = {"atlas": "atlases", "tileset": "tilesets"}
ATLAS_OPTIONS = ("padding", "extrude", "trim", "power_of_two", "max_size", "allow_rotation")
TILESET_OPTIONS = ("tile_width", "tile_height", "columns", "spacing", "margin", "resize")


def output_stem(spec: AssetSpec) -> str:
    """The main output's path without ``.png``, relative to output_dir: ``output`` when the
    manifest sets it, else ``atlases/ID`` / ``tilesets/ID``."""
    out = spec.get("output")
    if out:
        return out.replace("\\", "/").removesuffix(".png")
    return f"{OUTPUT_DIRS[spec.kind]}/{spec.id}"


def _problem(spec: AssetSpec, key: str, message: str) -> UserError:
    return UserError([Problem(spec.where(key), f"{spec.kind}.{spec.id}.{key}", message)])


# -- atlas -------------------------------------------------------------------------------------

def atlas_inputs(spec: AssetSpec, graph: Graph, previous: dict[str, Any] | None
                 ) -> list[tuple[str, str]]:
    return [(atlas_input_name(p), p.ref) for p in select(spec, graph, "frames")]


def pivot_rules(spec: AssetSpec) -> list[tuple[str, tuple[float, float]]]:
    """``pivots`` as (pattern, (x, y)), most specific first: exact names, then longer
    patterns, then by name; so the order they are written in never matters."""
    pivots = spec.get("pivots") or {}
    rules = [(name, (float(xy[0]), float(xy[1]))) for name, xy in pivots.items()]
    return sorted(rules, key=lambda r: (any(c in r[0] for c in "*?["), -len(r[0]), r[0]))


def pivot_for(frame: str, rules: list[tuple[str, tuple[float, float]]]
              ) -> tuple[float, float] | None:
    return next((xy for pattern, xy in rules if fnmatchcase(frame, pattern)), None)


def atlas_params(spec: AssetSpec) -> dict[str, Any]:
    params = {key: option(spec, key) for key in ATLAS_OPTIONS}
    if option(spec, "godot"):  # atlases without it keep their recipes
        params["godot"] = ["spriteframes-4", "spriteframes-3"]
    params.update(output=output_stem(spec), algorithm=ALGORITHM, format="texturepacker-json-hash",
                  pivots={name: list(xy) for name, xy in pivot_rules(spec)})
    return params


def atlas_animations(picks: list[Pick]) -> dict[str, list[str]]:
    """Each character's views in the order of its ``views`` (``hero``), and each of its
    animations' frames in order (``hero/walk``)."""
    anims: dict[str, list[Pick]] = {}
    for pick in picks:
        if pick.view is not None:
            anims.setdefault(pick.animation or pick.asset, []).append(pick)
    return {name: [p.frame for p in sorted(ps, key=lambda p: p.view_index)]
            for name, ps in anims.items()}


def atlas_timing(picks: list[Pick]) -> dict[str, tuple[float, str]]:
    """(fps, loop) of each animation (``hero/walk``) among ``picks``."""
    return {p.animation: (p.fps, p.loop or "loop") for p in picks
            if p.animation is not None and p.fps is not None}


def atlas_run(spec: AssetSpec, inputs: dict[str, InputRef], project: Project,
              previous: dict[str, Any] | None) -> StepResult:
    from .atlas import AtlasOptions, SourceFrame, atlas_files
    from .images import load_rgba
    from .packing import PackError

    options = AtlasOptions(**{key: option(spec, key) for key in ATLAS_OPTIONS})
    rules = pivot_rules(spec)
    picks = []
    frames = []
    for name, ref in sorted(inputs.items()):
        pick = parse_atlas_input(name)
        picks.append(pick)
        frames.append(SourceFrame(pick.frame, load_rgba(ref.path), pivot_for(pick.frame, rules)))
    try:
        files = atlas_files(frames, options, output_stem(spec), atlas_animations(picks),
                            __version__, atlas_timing(picks), bool(option(spec, "godot")))
    except PackError as e:
        raise _problem(spec, "max_size", f"{e}; raise max_size or shrink the frame") from None
    return StepResult(files, {"frames": sorted(f.name for f in frames)})


ATLAS_STEP = AssetStep("atlas", __version__, atlas_inputs, atlas_params, atlas_run)


# -- tileset -----------------------------------------------------------------------------------

def tileset_inputs(spec: AssetSpec, graph: Graph, previous: dict[str, Any] | None
                   ) -> list[tuple[str, str]]:
    picks = select(spec, graph, "tiles")
    return [(tile_input_name(slot, p), p.ref) for slot, p in tile_slots(picks, previous)]


def tileset_params(spec: AssetSpec) -> dict[str, Any]:
    params = {key: option(spec, key) for key in TILESET_OPTIONS}
    params.update(output=output_stem(spec), format="tiled-tsx-1.8",
                  properties=["asset", "source_hash", "view"])
    return params


def tileset_run(spec: AssetSpec, inputs: dict[str, InputRef], project: Project,
                previous: dict[str, Any] | None) -> StepResult:
    from .images import load_rgba, resize_nearest
    from .tiled import Grid, Tile, tileset_files

    width, height = option(spec, "tile_width"), option(spec, "tile_height")
    grid = Grid(width, height, option(spec, "columns"), option(spec, "spacing"),
                option(spec, "margin"))
    placed: dict[int, tuple[Pick, Tile]] = {}
    for name, ref in sorted(inputs.items()):
        slot, pick = parse_tile_input(name)
        image = load_rgba(ref.path)
        if image.size != (width, height):
            if not option(spec, "resize"):
                raise _problem(spec, "tile_width", (
                    f"tile {pick.frame!r} is {image.width}×{image.height}, not "
                    f"{width}×{height}; set resize = true to resize it with the nearest "
                    "filter, or change tile_width/tile_height"))
            image = resize_nearest(image, width, height)
        props = {"asset": pick.asset, "source_hash": ref.hash}
        if pick.view:
            props["view"] = pick.view
        placed[slot] = (pick, Tile(image, props))
    count = max(placed, default=-1) + 1
    slots = [placed[i][1] if i in placed else None for i in range(count)]
    # The state keeps names of slots left empty, so a returning tile gets its old id back.
    order = previous_order(previous)
    order += [""] * max(0, count - len(order))
    for i, (pick, _) in placed.items():
        order[i] = pick.frame
    files = tileset_files(output_stem(spec), spec.id, grid, slots)
    return StepResult(files, {"tiles": order})


TILESET_STEP = AssetStep("tileset", __version__, tileset_inputs, tileset_params, tileset_run)
