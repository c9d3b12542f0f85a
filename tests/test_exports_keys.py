"""The exports plugin's manifest keys: checked by the core's manifest validation with
``file:line: key: message``, restricted to the kind that reads them."""

from __future__ import annotations

import pytest
from assetforge_exports import plugin
from helpers import unvalidated_specs

from assetforge.api import UserError
from assetforge.manifest import load_specs
from assetforge.plugins import load_plugins
from assetforge.project import load_project

MANIFEST = """\
[atlas.sprites]
frames = []
padding = "2"
max_size = 8
tile_width = 32

[tileset.dungeon]
kinds = "tile"
columns = 0
trim = true
pivots = { a = [1] }
"""


def test_kinds_and_keys_are_registered() -> None:
    kinds = {k.name: k for k in plugin.register_asset_kinds()}
    assert kinds["atlas"].step.name == "atlas" and kinds["tileset"].step.name == "tileset"
    assert kinds["atlas"].output_dir == "atlases" and kinds["tileset"].output_dir == "tilesets"
    keys = {k.name: k for k in plugin.register_manifest_keys()}
    assert keys["padding"].kinds == ("atlas",) and keys["columns"].kinds == ("tileset",)
    assert keys["kinds"].kinds == ("atlas", "tileset")


def test_bad_values_are_reported_with_file_line_and_key(make_project) -> None:
    root = make_project({"manifests/export.toml": MANIFEST})
    project = load_project(root)
    with pytest.raises(UserError) as e:
        load_specs(project, load_plugins(project))
    f = root / "manifests" / "export.toml"
    reported = {str(p) for p in e.value.problems}
    expected = {
        f"{f}:2: atlas.sprites.frames: must list at least one asset id or pattern "
        "(or use kinds = [...])",
        f"{f}:3: atlas.sprites.padding: expected an integer, got a string",
        f"{f}:4: atlas.sprites.max_size: must be between 16 and 16384",
        f"{f}:5: atlas.sprites.tile_width: unknown key for a atlas (only for: tileset)",
        f"{f}:8: tileset.dungeon.kinds: expected a list, got a string",
        f"{f}:9: tileset.dungeon.columns: must be between 1 and 1024",
        f"{f}:10: tileset.dungeon.trim: unknown key for a tileset (only for: atlas)",
        f"{f}:11: tileset.dungeon.pivots: unknown key for a tileset (only for: atlas)",
    }
    assert expected <= reported, sorted(reported)


def test_pivot_values_are_checked(make_project) -> None:
    root = make_project({"manifests/export.toml": '[atlas.a]\nframes = ["x"]\n'
                                                  'pivots = { "hero/*" = [0.5] }\n'})
    project = load_project(root)
    with pytest.raises(UserError) as e:
        load_specs(project, load_plugins(project))
    assert (f"{root / 'manifests/export.toml'}:3: atlas.a.pivots: 'hero/*': expected [x, y], "
            "fractions of the frame (0.5, 1.0 = bottom centre)") in {str(p) for p in
                                                                  e.value.problems}


def test_an_atlas_or_tileset_must_select_something(make_project) -> None:
    root = make_project()
    specs = unvalidated_specs(root, "[atlas.a]\npadding = 1\n\n[tileset.t]\ncolumns = 4\n\n"
                                    "[atlas.b]\nkinds = [\"tile\"]\n")
    project = load_project(root)
    problems = [str(p) for s in specs.values() for p in plugin.validate_spec(s, project) or []]
    f = root / "manifests" / "game.toml"
    assert problems == [
        f'{f}:1: atlas.a.frames: missing: an atlas needs frames = ["id", "pattern_*", …] or '
        'kinds = ["tile"]',
        f'{f}:4: tileset.t.tiles: missing: a tileset needs tiles = ["id", "pattern_*", …] or '
        'kinds = ["tile"]']
