"""The ``terrain`` plugin's hooks: the ``terrain`` asset kind and its keys.

Manifest::

    [terrain.cave_floor]
    terrains = ["@floor_dirt", "@floor_stone"]   # lower first; both must tile on both axes
    layout = "blob"                              # or "corner"
    tile_size = 32
    transition = { prompt = "pebbles and moss where stone meets dirt", strength = 0.5 }

writes ``terrains/ID.png`` (the tiles), ``ID.tsx`` (Tiled wangset), ``ID.tres`` (Godot 4
TileSet), ``ID.godot3.tres`` (Godot 3 autotile) and ``ID.sample.png`` (a map painted with the
set), rebuilt only when a terrain image or an option changes.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from assetforge.api import AssetKind, ManifestKey, Problem, hookimpl, model_generator

from .keys import DEFAULTS, manifest_keys
from .step import OUTPUT_DIR, TERRAIN_STEP

DEFAULT_SCHEDULER = "euler_a"

if TYPE_CHECKING:
    from assetforge.api import AssetSpec, Project


@hookimpl
def register_asset_kinds() -> list[AssetKind]:
    """``terrain``: built by a step from two terrain textures."""
    return [AssetKind("terrain", dict(DEFAULTS), OUTPUT_DIR, step=TERRAIN_STEP)]


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """``terrains``, ``layout``, ``tile_size``, ``columns``, ``filter``, ``transition``."""
    return manifest_keys()


@hookimpl
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """A terrain names its two terrains; a transition needs a model."""
    if spec.kind != "terrain":
        return None
    if spec.get("terrains") is None:
        return [Problem(spec.location, f"terrain.{spec.id}.terrains",
                        "missing: terrains = [\"@lower\", \"@upper\"], two tiling textures")]
    if spec.get("transition"):
        name = spec.get("model") or project.default_model
        if name is None or name not in project.models:
            return [Problem(spec.where("transition"), f"terrain.{spec.id}.transition",
                            f"a transition is painted by a model: no [models.{name}] table"
                            if name else "a transition is painted by a model: set model = "
                            "\"NAME\" or [project] default_model")]
    return None


@hookimpl
def expand_spec(spec: AssetSpec, project: Project) -> None:
    """A transition's recipe holds the content identity of the model that paints it."""
    if spec.kind != "terrain" or not spec.get("transition"):
        return
    name = spec.get("model") or project.default_model
    gen, cfg = model_generator(project, name)
    ident = gen.identify(cfg, project)
    seed = spec.get("seed")
    if seed is None:  # derived like every seed: the asset id and the project's salt
        digest = hashlib.sha256(f"assetforge-seed:{project.seed_salt}:{spec.id}".encode())
        seed = int.from_bytes(digest.digest()[:4], "big")
    spec.fields["_transition_model"] = {
        "name": name, "hash": ident.hash, "family": ident.family, "generator": gen.name,
        "generator_version": gen.version, "seed": seed,
        "scheduler": spec.get("scheduler") or DEFAULT_SCHEDULER}
