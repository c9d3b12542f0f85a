"""Atlases and tilesets through whole ``assetforge build`` runs (real tiny model, real records).

These exercise the asset graph: the core plans kinds built by an ``AssetStep`` after their
inputs, records the step's files and its state, and restores them.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from helpers import build_json, run_cli

MANIFEST = """\
[texture.wall_a]
prompt = "brick wall"

[texture.wall_b]
prompt = "mossy wall"

[character.hero]
prompt = "a hero"
views = ["front", "side", "back"]

[tile.floor]
prompt = "floor tile"

[tile.chest]
prompt = "chest tile"

[atlas.sheet]
frames = ["wall_*", "hero"]

[tileset.dungeon]
kinds = ["tile"]
tile_width = 32
tile_height = 32
columns = 4
"""


def statuses(data: dict) -> dict[str, str]:
    return {a["id"]: a["status"] for a in data["assets"]}


def digests(root: Path, folder: str) -> dict[str, str]:
    base = root / "assets" / folder
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(base.iterdir())}


def tile_ids(root: Path) -> dict[int, str]:
    tsx = ET.parse(root / "assets" / "tilesets" / "dungeon.tsx").getroot()
    return {int(t.get("id")): next(p.get("value") for p in t.iter("property")
                                   if p.get("name") == "asset") for t in tsx.iter("tile")}


def test_editing_one_frame_rebuilds_it_and_the_atlas_only(make_project, one_torch_thread):
    root = make_project({"manifests/game.toml": MANIFEST})
    first = build_json(root)
    assert first["summary"]["failed"] == 0, first
    frames = json.loads((root / "assets" / "atlases" / "sheet.json").read_text())["frames"]
    assert sorted(frames) == ["hero/back", "hero/front", "hero/side", "wall_a", "wall_b"]
    before = digests(root, "atlases")
    manifest = root / "manifests" / "game.toml"
    manifest.write_text(MANIFEST.replace("brick wall", "cracked brick wall"))
    second = build_json(root)
    changed = {k for k, v in statuses(second).items() if v != "up-to-date"}
    assert changed == {"wall_a", "sheet"}, statuses(second)
    assert digests(root, "atlases") != before
    assert statuses(build_json(root)) == {k: "up-to-date" for k in statuses(second)}


def test_deleting_a_frames_asset_rebuilds_the_atlas_without_it(make_project, one_torch_thread):
    root = make_project({"manifests/game.toml": MANIFEST})
    build_json(root)
    manifest = root / "manifests" / "game.toml"
    manifest.write_text(MANIFEST.replace('[texture.wall_b]\nprompt = "mossy wall"\n', ""))
    data = build_json(root)
    assert statuses(data)["sheet"] == "built"
    frames = json.loads((root / "assets" / "atlases" / "sheet.json").read_text())["frames"]
    assert sorted(frames) == ["hero/back", "hero/front", "hero/side", "wall_a"]


def test_adding_a_tile_appends_it_and_a_revert_restores(make_project, one_torch_thread):
    root = make_project({"manifests/game.toml": MANIFEST})
    build_json(root)
    assert tile_ids(root) == {0: "chest", 1: "floor"}
    manifest = root / "manifests" / "game.toml"
    manifest.write_text(MANIFEST + '\n[tile.altar]\nprompt = "altar tile"\n')
    assert statuses(build_json(root))["dungeon"] == "built"
    assert tile_ids(root) == {0: "chest", 1: "floor", 2: "altar"}  # "altar" sorts first
    manifest.write_text(MANIFEST)
    assert statuses(build_json(root))["dungeon"] in ("built", "restored")
    assert tile_ids(root) == {0: "chest", 1: "floor"}


def test_two_fresh_projects_give_byte_identical_exports(make_project, one_torch_thread):
    a = make_project({"manifests/game.toml": MANIFEST}, name="a")
    b = make_project({"manifests/game.toml": MANIFEST}, name="b")
    build_json(a)
    build_json(b)
    assert digests(a, "atlases") == digests(b, "atlases")
    assert digests(a, "tilesets") == digests(b, "tilesets")
    assert sorted(digests(a, "atlases")) == ["sheet.json", "sheet.png"]
    assert run_cli(a, "verify").exit_code == 0
