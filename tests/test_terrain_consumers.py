"""Terrain sets read by the programs they are for: the real Godot 3 engine, Tiled's CLI,
pytiled-parser and godot-parser. The sets come from a real ``assetforge build``."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import godot_parser
import pytest
import pytiled_parser
from assetforge_terrain import layout, sample, seams
from conftest import BASE_CONFIG
from godot_kit import run_godot3
from helpers import build_json
from terrain_kit import project_files, read_tiles, set_path

SETS = {"ground": ("blob", 32, 8), "ground4": ("corner", 64, 4)}  # layout, size, columns


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("terrain") / "proj"
    root.mkdir()
    (root / "assetforge.toml").write_text(BASE_CONFIG)
    for rel, content in project_files().items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
    data = build_json(root)
    assert data["summary"]["failed"] == 0, data
    return root


def godot_script(resource: str, cells: list[list[int]]) -> str:
    h, w = len(cells), len(cells[0])
    return f"""extends SceneTree
func _init():
    var ts = load("res://{resource}")
    var tm = TileMap.new()
    tm.tile_set = ts
    var cells = {json.dumps(cells)}
    for y in range(cells.size()):
        for x in range(cells[y].size()):
            if cells[y][x] == 1:
                tm.set_cell(x, y, 0)
    tm.update_bitmask_region(Vector2(0, 0), Vector2({w - 1}, {h - 1}))
    var icon = ts.autotile_get_icon_coordinate(0)
    print("OUT icon %d %d" % [icon.x, icon.y])
    print("OUT mode %d" % ts.autotile_get_bitmask_mode(0))
    var size = ts.autotile_get_size(0)
    print("OUT size %d %d" % [size.x, size.y])
    for c in tm.get_used_cells():
        var a = tm.get_cell_autotile_coord(int(c.x), int(c.y))
        print("OUT cell %d %d %d %d" % [c.x, c.y, a.x, a.y])
    print("ASSETFORGE_DONE")
    quit()
"""


@pytest.mark.parametrize("name", list(SETS))
def test_godot3_paints_a_random_map_without_seams(built, tmp_path, name):
    lay, size, columns = SETS[name]
    game = tmp_path / "game"
    game.mkdir()
    for suffix in (".png", ".godot3.tres"):
        shutil.copy(set_path(built, name, suffix), game / f"{name}{suffix}")
    rnd = random.Random(20261203)
    cells = [[rnd.randint(0, 1) for _ in range(14)] for _ in range(10)]
    out = run_godot3(game, godot_script(f"{name}.godot3.tres", cells))
    head = dict(line.split(" ", 1) for line in out if not line.startswith("cell "))
    assert head["mode"] == str(layout.GODOT3_MODE[lay])
    assert head["size"] == f"{size} {size}"
    icon = tuple(int(v) for v in head["icon"].split())
    tiles = layout.tiles_of(lay)
    chosen: dict[tuple[int, int], int] = {}
    for line in out:
        if line.startswith("cell "):
            x, y, ax, ay = (int(v) for v in line.split()[1:])
            chosen[x, y] = ay * columns + ax
            # Godot picked exactly the tile the neighbours ask for (so never fell back to the
            # icon unless the icon is that tile; for blob the icon is the plain lower tile,
            # which no painted cell asks for)
            assert tiles[chosen[x, y]] == layout.cell_tile(cells, x, y, lay), (x, y)
            if lay == "blob":
                assert (ax, ay) != icon
    painted = {(x, y) for y, row in enumerate(cells) for x, v in enumerate(row) if v}
    assert set(chosen) == painted
    images = read_tiles(set_path(built, name, ".png"), lay, size, columns)
    plain = tiles.index(layout.TileDef(0, 0))
    grid = [[images[chosen.get((x, y), plain)] for x in range(14)] for y in range(10)]
    assert seams.map_seams(grid) <= seams.BOUND


@pytest.mark.parametrize("name", list(SETS))
def test_tiled_exports_the_wangset_with_every_wangid(built, tmp_path, name):
    lay, size, columns = SETS[name]
    out = tmp_path / f"{name}.tsj"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(["tiled", "--export-tileset", "json",
                           str(set_path(built, name, ".tsx")), str(out)],
                          capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    tiles = layout.tiles_of(lay)
    assert (data["tilewidth"], data["columns"], data["tilecount"]) == (
        size, columns, columns * -(-len(tiles) // columns))
    (wangset,) = data["wangsets"]
    assert wangset["type"] == layout.TILED_TYPE[lay]
    assert [c["name"] for c in wangset["colors"]] == ["dirt", "grass"]
    got = {w["tileid"]: w["wangid"] for w in wangset["wangtiles"]}
    assert got == {i: layout.tiled_wangid(t, lay) for i, t in enumerate(tiles)}


@pytest.mark.parametrize("name", list(SETS))
def test_pytiled_parser_reads_the_wangset(built, name):
    lay, size, _columns = SETS[name]
    ts = pytiled_parser.parse_tileset(set_path(built, name, ".tsx"))
    assert ts.tile_width == size and ts.image.name == f"{name}.png"
    (ws,) = ts.wang_sets
    assert ws.wang_type == layout.TILED_TYPE[lay]
    assert [c.name for c in ws.wang_colors] == ["dirt", "grass"]
    tiles = layout.tiles_of(lay)
    assert {i: w.wang_id for i, w in ws.wang_tiles.items()} == {
        i: layout.tiled_wangid(t, lay) for i, t in enumerate(tiles)}


@pytest.mark.parametrize("name", list(SETS))
def test_godot4_tileset_terrains_and_peering_bits_match_the_wangids(built, name):
    lay, size, columns = SETS[name]
    res = godot_parser.load(str(set_path(built, name, ".tres")))
    sections = res.get_sections()
    head = sections[0].header
    assert head.name == "gd_resource" and head["type"] == "TileSet" and head["format"] == 3
    ext = next(s for s in sections if s.header.name == "ext_resource")
    assert ext.header["path"] == f"{name}.png" and ext.header["type"] == "Texture2D"
    atlas = next(s for s in sections if s.header.name == "sub_resource")
    assert atlas.header["type"] == "TileSetAtlasSource"
    props = dict(atlas.properties)
    main = dict(sections[-1].properties)
    assert main["terrain_set_0/mode"] == layout.GODOT4_MODE[lay]
    assert main["terrain_set_0/terrain_0/name"] == "dirt"
    assert main["terrain_set_0/terrain_1/name"] == "grass"
    # peering bits read back from the .tres, compared with the Tiled wangid of the same tile
    wang_of = {v: k for k, v in layout.TILED_INDEX.items()}
    tiles = layout.tiles_of(lay)
    for i, tile in enumerate(tiles):
        at = f"{i % columns}:{i // columns}/0"
        assert props[at] == 0 and props[f"{at}/terrain_set"] == 0
        assert props[f"{at}/terrain"] == tile.centre
        wangid = layout.tiled_wangid(tile, lay)
        for index, value in enumerate(wangid):
            key = f"{at}/terrains_peering_bit/{layout.GODOT4_BITS[wang_of[index]]}"
            if value == 0:
                assert key not in props
            else:
                assert props[key] == value - 1
    assert f"{len(tiles) % columns}:{len(tiles) // columns}/0" not in props or (
        len(tiles) % columns == 0)


def test_sample_map_is_the_set_painted(built):
    from PIL import Image

    for name, (lay, size, columns) in SETS.items():
        with Image.open(set_path(built, name, ".sample.png")) as im:
            assert im.size == (sample.SAMPLE_W * size, sample.SAMPLE_H * size)
        assert read_tiles(set_path(built, name, ".png"), lay, size, columns)
