"""The demo's project-local plugin (projects/demo/plugins/pixelart.py), loaded the way a user's
project loads it: ``plugins_dir`` in assetforge.toml names a folder holding a copy of the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import BASE_CONFIG, REPO
from helpers import build_json, generation_count, run_cli
from PIL import Image

PLUGIN = REPO / "projects" / "demo" / "plugins" / "pixelart.py"
CONFIG = BASE_CONFIG.replace('seed_salt = "test"\n',
                             'seed_salt = "test"\nplugins_dir = "plugins"\n')

TILES = """\
[tile.chest]
prompt = "a wooden chest"
pixel_art = { size = 16, colors = 8 }

[tile.door]
prompt = "an oak door"
pixel_art = { size = 16, colors = 8 }

[tile.grass]
prompt = "grass"
"""


@pytest.fixture
def project(make_project, monkeypatch):
    """A project with its own plugins folder; only the generator and this plugin load."""
    monkeypatch.setenv("ASSETFORGE_PLUGINS", "diffusers,pixelart")

    def make(manifest: str) -> Path:
        return make_project({"manifests/tiles.toml": manifest,
                             "plugins/pixelart.py": PLUGIN.read_text()}, config=CONFIG)

    return make


def colours(path: Path) -> int:
    with Image.open(path) as im:
        assert im.size == (16, 16)
        found = im.convert("RGB").getcolors(maxcolors=16 * 16)
    assert found is not None
    return len(found)


def show(root: Path, asset: str) -> dict:
    res = run_cli(root, "show", asset, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_tiles_are_pixelated_and_the_settings_are_in_the_recipe(project):
    root = project(TILES)
    data = build_json(root)
    assert data["summary"]["built"] == 3 and data["summary"]["failed"] == 0
    tiles = root / "assets" / "tiles"
    # 16x16 with at most 8 colours (and a real palette, not one flat colour).
    assert 2 <= colours(tiles / "chest.png") <= 8
    assert 2 <= colours(tiles / "door.png") <= 8
    with Image.open(tiles / "grass.png") as im:  # no pixel_art: left at generation size
        assert im.size == (64, 64)

    recipe = show(root, "chest")["jobs"][0]["recipe"]
    assert recipe["plugins"]["pixelart"] == {"version": "1.0",
                                             "params": {"size": 16, "colors": 8}}
    assert "pixelart" not in show(root, "grass")["jobs"][0]["recipe"]["plugins"]

    res = run_cli(root, "plugins", "--json")
    loaded = {p["name"]: p for p in json.loads(res.stdout)}
    assert loaded["pixelart"]["version"] == "1.0"
    assert loaded["pixelart"]["source"] == str(root / "plugins" / "pixelart.py")


def test_changing_colors_rebuilds_only_that_tile(project):
    root = project(TILES)
    build_json(root)
    door = (root / "assets" / "tiles" / "door.png").read_bytes()
    before = generation_count(root)

    manifest = root / "manifests" / "tiles.toml"
    manifest.write_text(TILES.replace("size = 16, colors = 8 }\n\n[tile.door]",
                                      "size = 16, colors = 4 }\n\n[tile.door]"))
    res = run_cli(root, "status", "--json")
    assert res.exit_code == 0, res.output
    status = {a["id"]: a for a in json.loads(res.stdout)["assets"]}
    assert status["chest"]["status"] == "changed"
    assert status["chest"]["reason"] == "recipe changed: plugins.pixelart"
    assert status["door"]["status"] == status["grass"]["status"] == "up-to-date"

    res = run_cli(root, "build", "--explain")
    assert res.exit_code == 0, res.output
    assert "built       chest  (recipe changed: plugins.pixelart)" in res.output
    assert "up-to-date  door" in res.output and "up-to-date  grass" in res.output
    assert generation_count(root) == before + 1
    assert 2 <= colours(root / "assets" / "tiles" / "chest.png") <= 4
    assert (root / "assets" / "tiles" / "door.png").read_bytes() == door
    assert show(root, "chest")["jobs"][0]["recipe"]["plugins"]["pixelart"]["params"] == {
        "size": 16, "colors": 4}


@pytest.mark.parametrize("manifest, needle, expected", [
    ('[tile.chest]\nprompt = "c"\npixel_art = { size = 16, colors = 1 }\n', "pixel_art",
     "tile.chest.pixel_art: colors must be an integer from 2 to 256"),
    ('[tile.chest]\nprompt = "c"\npixel_art = { size = 16, colours = 8 }\n', "pixel_art",
     "tile.chest.pixel_art: unknown setting(s) colours; expected size and colors"),
    ('[tile.chest]\nprompt = "c"\n\n[texture.wall]\nprompt = "w"\n'
     'pixel_art = { size = 16, colors = 8 }\n', "pixel_art",
     "texture.wall.pixel_art: unknown key for a texture (only for: tile)"),
], ids=["colors = 1", "unknown setting", "texture"])
def test_bad_settings_are_located_errors(project, manifest, needle, expected):
    root = project(manifest)
    res = run_cli(root, "build")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    line = next(i for i, text in enumerate(manifest.splitlines(), 1) if needle in text)
    location = f"{root / 'manifests' / 'tiles.toml'}:{line}: "
    errors = [e for e in res.stderr.splitlines() if e.startswith("error: ")]
    assert any(location in e and expected in e for e in errors), (location, expected, errors)
    assert generation_count(root) == 0
    assert not (root / "assets").exists()
