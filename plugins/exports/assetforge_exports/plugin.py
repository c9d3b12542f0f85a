"""The ``exports`` plugin's hooks: the ``atlas`` and ``tileset`` asset kinds and their keys.

Manifest::

    [atlas.characters]
    frames = ["hero", "slime_*"]   # ids, "id:view" or patterns; a character adds every view
    trim = true                    # padding = 2, extrude = 1, max_size = 4096 by default

    [tileset.dungeon]
    kinds = ["tile"]               # every tile asset
    tile_width = 32
    tile_height = 32
    columns = 8

An atlas writes ``atlases/ID.png`` + ``ID.json`` (TexturePacker JSON-hash); a tileset writes
``tilesets/ID.png`` + ``ID.tsx`` (Tiled). Both are built by steps (steps.py) from the other
assets' outputs and rebuilt only when one of those files, or an option, changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assetforge.api import AssetKind, ManifestKey, Problem, hookimpl

from .keys import ATLAS_DEFAULTS, TILESET_DEFAULTS, check_selection, manifest_keys
from .steps import ATLAS_STEP, OUTPUT_DIRS, TILESET_STEP

if TYPE_CHECKING:
    from assetforge.api import AssetSpec, Project


@hookimpl
def register_asset_kinds() -> list[AssetKind]:
    """``atlas`` and ``tileset``: kinds with no prompt, built by a step from other assets."""
    return [
        AssetKind("atlas", dict(ATLAS_DEFAULTS), OUTPUT_DIRS["atlas"], step=ATLAS_STEP),
        AssetKind("tileset", dict(TILESET_DEFAULTS), OUTPUT_DIRS["tileset"], step=TILESET_STEP),
    ]


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """Selection (``frames``/``tiles``, ``kinds``) and packing/grid options, each restricted
    to the kind that reads it."""
    return manifest_keys()


@hookimpl
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """An atlas or tileset must say which images it takes."""
    if spec.kind not in OUTPUT_DIRS:
        return None
    return check_selection(spec) or None
