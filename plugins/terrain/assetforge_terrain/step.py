"""The ``terrain`` step: two terrain images in, a terrain set's five files out.

``inputs`` names the two terrain images (``lower``, ``upper``) and checks they tile on both
axes; ``params`` is everything else the bytes depend on (the recipe); ``run`` composes the
tiles, repaints the transition band when asked, and writes the files. numpy and Pillow are
imported only by ``run``.
"""

from __future__ import annotations

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
from .keys import option, transition_options
from .layout import ALGORITHM

OUTPUT_DIR = "terrains"
ROLES = ("lower", "upper")
FORMAT = "tiled-tsx-1.8+godot4-tileset-format3+godot3-tileset-format2"


def output_stem(spec: AssetSpec) -> str:
    out = spec.get("output")
    if out:
        return out.replace("\\", "/").removesuffix(".png")
    return f"{OUTPUT_DIR}/{spec.id}"


def _problem(spec: AssetSpec, key: str, message: str) -> UserError:
    return UserError([Problem(spec.where(key), f"{spec.kind}.{spec.id}.{key}", message)])


def tiling_of(graph: Graph, asset: str) -> str:
    """An asset's tiling as the seamless plugin will apply it: its ``tiling`` (after kind
    defaults), or ``both`` for a generated texture that sets none (the seamless default)."""
    tiling = graph.field(asset, "tiling")
    if tiling is None and graph.kind(asset) == "texture" and graph.field(asset, "image") is None:
        return "both"
    return tiling or "none"


def terrain_inputs(spec: AssetSpec, graph: Graph, previous: dict[str, Any] | None
                   ) -> list[tuple[str, str]]:
    refs = spec.get("terrains") or []
    out = []
    for role, ref in zip(ROLES, refs, strict=False):
        asset = ref[1:]
        if asset in graph.ids():
            if graph.views(asset):
                raise _problem(spec, "terrains", f"{ref} has views; a terrain is one image")
            tiling = tiling_of(graph, asset)
            if tiling != "both":
                how = ("declare tiling = \"both\" on it" if graph.field(asset, "image")
                       is not None else "generate it with tiling = \"both\"")
                raise _problem(spec, "terrains", (
                    f"{ref} does not tile on both axes (tiling = {tiling!r}); a terrain must "
                    f"tile: {how}"))
        out.append((role, ref))  # an unknown id is reported by the graph, with a suggestion
    if spec.get("filter") is None:  # resolved once here, where the terrains' keys are known
        pixel = any(graph.field(r[1:], "pixel_art") for _, r in out if r[1:] in graph.ids())
        spec.fields["filter"] = "nearest" if pixel else "smooth"
    return out


def terrain_params(spec: AssetSpec) -> dict[str, Any]:
    params = {key: option(spec, key) for key in ("layout", "tile_size", "columns", "filter")}
    params.update(output=output_stem(spec), format=FORMAT, algorithm=ALGORITHM,
                  terrains=[r[1:] for r in spec.get("terrains") or []],
                  noise_seed=noise_seed(spec))
    t = transition_options(spec)
    if t is not None:
        params["transition"] = t | {"model": spec.get("_transition_model")}
    return params


def noise_seed(spec: AssetSpec) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"terrain:{spec.id}".encode()).digest()[:4], "big")


def terrain_run(spec: AssetSpec, inputs: dict[str, InputRef], project: Project,
                previous: dict[str, Any] | None) -> StepResult:
    from .build import build_set

    files, state = build_set(spec, inputs, project)
    return StepResult(files, state)


TERRAIN_STEP = AssetStep("terrain", __version__, terrain_inputs, terrain_params, terrain_run)
