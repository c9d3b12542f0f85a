"""The demo project builds as its README promises, through the CLI, from a fresh copy.

One build of a copy of ``projects/demo`` (without its ``assets`` and ``.assetforge``) is shared
by the tests below; expected sizes are read from the demo's own assetforge.toml and manifests, so
the demo can be retuned without editing this file, while the relations it shows (upscaled ×
factor, pixel-art tiles at their pixel-art size, three hero views) are checked.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from helpers import build_json, generation_count, run_cli, snapshot
from PIL import Image

DEMO = Path(__file__).resolve().parents[1] / "projects" / "demo"
ESRGAN = Path("models") / "tiny-esrgan-x4.safetensors"
BUILT_IN = {"diffusers": "assetforge-diffusers", "lora": "assetforge-lora",
            "seamless": "assetforge-seamless", "upscale": "assetforge-upscale",
            "cutout": "assetforge-cutout", "pbr": "assetforge-pbr",
            "exports": "assetforge-exports", "terrain": "assetforge-terrain"}
STEP_KINDS = ("atlas", "tileset", "terrain")  # built from other assets' outputs, not generated
STEP_FILES = {"atlas": 2, "tileset": 2, "terrain": 5}  # files (records) each step writes

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _load_demo() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The demo's config and its assets: id -> fields merged over their kind defaults."""
    config = tomllib.loads((DEMO / "assetforge.toml").read_text())
    assets: dict[str, dict[str, Any]] = {}
    for path in sorted((DEMO / "manifests").glob("*.toml")):
        for kind, table in tomllib.loads(path.read_text()).items():
            for asset_id, fields in table.items():
                assets[asset_id] = {"kind": kind, **config["kinds"].get(kind, {}), **fields}
    return config, assets


CONFIG, ASSETS = _load_demo()
IMAGES = {i: a for i, a in ASSETS.items() if a["kind"] not in STEP_KINDS}


def _expected_size(fields: dict[str, Any]) -> tuple[int, int]:
    if "image" in fields:  # file-sourced: the file's own size, whatever the kind's default
        with Image.open(DEMO / fields["image"]) as im:
            return im.size
    if "pixel_art" in fields:
        size = fields["pixel_art"].get("size", 16)
        return size, size
    factor = fields.get("upscale", {}).get("factor", 1)
    return fields["width"] * factor, fields["height"] * factor


def _show(root: Path, asset_id: str) -> dict[str, Any]:
    res = run_cli(root, "show", asset_id, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A fresh copy of the demo, built once: (its root, the first build's JSON)."""
    root = tmp_path_factory.mktemp("demo") / "demo"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("assets", ".assetforge",
                                                              "__pycache__"))
    return root, build_json(root)


def test_the_demo_shows_every_feature_it_claims() -> None:
    """Guard the showcase itself: a style pack, a tiled texture, a model upscale, pixel art."""
    assert CONFIG["project"]["plugins_dir"] == "plugins"
    assert (DEMO / "plugins" / "pixelart.py").is_file()
    assert any("style" in a or "styles" in a for a in ASSETS.values())
    assert any(a.get("upscale", {}).get("model") == str(ESRGAN) for a in ASSETS.values())
    assert any(a["kind"] == "texture" and a.get("tiling", "both") != "none"
               for a in ASSETS.values())
    assert all("pixel_art" in a for a in ASSETS.values() if a["kind"] == "tile")
    assert len(ASSETS["hero"]["views"]) == 3
    assert all("control" in v for v in ASSETS["hero"]["views"].values())  # pose sheets
    assert ASSETS["hero"]["cutout"] == "key"
    assert ASSETS["wall_mossy"]["init_image"] == "@wall_brick"  # an img2img variant
    assert "normal" in ASSETS["floor_stone"]["maps"]
    assert any("image" in a for a in ASSETS.values())  # a file-sourced asset
    assert {a["kind"] for a in ASSETS.values()} >= set(STEP_KINDS)


def test_every_asset_builds_at_its_expected_size(demo: tuple[Path, dict[str, Any]]) -> None:
    root, first = demo
    assert first["summary"]["failed"] == 0, first
    assert first["summary"]["built"] == len(ASSETS)
    assert {a["id"]: a["status"] for a in first["assets"]} == dict.fromkeys(ASSETS, "built")
    outputs = {a["id"]: a["outputs"] for a in first["assets"]}
    for asset_id, fields in IMAGES.items():
        assert outputs[asset_id], asset_id
        for rel in outputs[asset_id]:
            if rel.endswith(("_normal.png", "_height.png")):
                continue  # derived maps: the size of their image, checked below
            with Image.open(root / "assets" / rel) as im:
                assert im.size == _expected_size(fields), (asset_id, rel, im.size)
    # The relations the demo exists to show, stated outright as well.
    stone = ASSETS["floor_stone"]
    with Image.open(root / "assets" / "textures" / "floor_stone.png") as im:
        assert im.size == (stone["width"] * stone["upscale"]["factor"],
                           stone["height"] * stone["upscale"]["factor"])
    sizes = {}
    for tile in ("chest", "torch", "stairs"):
        with Image.open(root / "assets" / "tiles" / f"{tile}.png") as im:
            sizes[tile] = im.size
            # quantized: at most the palette's colours (the plugin's own default is 16)
            colours = im.getcolors(256)
            assert colours is not None
            assert len(colours) <= ASSETS[tile]["pixel_art"].get("colors", 16)
    assert sizes["torch"] != sizes["chest"]  # a tile's own pixel_art overrides the kind default
    for name in ("normal", "height"):  # derived maps beside the floor, at its size
        with Image.open(root / "assets" / "textures" / f"floor_stone_{name}.png") as im:
            assert im.size == (stone["width"] * stone["upscale"]["factor"],
                               stone["height"] * stone["upscale"]["factor"])
    for view in ASSETS["hero"]["views"]:  # cut out: real alpha
        with Image.open(root / "assets" / "characters" / f"hero_{view}.png") as im:
            assert im.mode == "RGBA"
            assert im.getchannel("A").getextrema() == (0, 255)


def test_the_engine_exports_hold_every_frame_and_tile(
        demo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = demo
    atlas = json.loads((root / "assets" / "atlases" / "characters.json").read_text())
    views = list(ASSETS["hero"]["views"])
    assert sorted(atlas["frames"]) == sorted(f"hero/{v}" for v in views)
    assert atlas["animations"] == {"hero": [f"hero/{v}" for v in views]}
    with Image.open(root / "assets" / "atlases" / "characters.png") as im:
        assert (im.width, im.height) == (atlas["meta"]["size"]["w"], atlas["meta"]["size"]["h"])
    tsx = (root / "assets" / "tilesets" / "dungeon.tsx").read_text()
    tiles = sorted(i for i, a in ASSETS.items() if a["kind"] == "tile")
    assert [f'name="asset" value="{t}"' in tsx for t in tiles] == [True] * len(tiles)


def test_the_terrain_sets_hold_every_tile(demo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = demo
    counts = {"blob": 48, "corner": 16}
    sets = {i: a for i, a in ASSETS.items() if a["kind"] == "terrain"}
    assert {a["layout"] for a in sets.values()} == set(counts)
    for asset_id, fields in sets.items():
        base = root / "assets" / "terrains" / asset_id
        tsx = base.with_suffix(".tsx").read_text()
        assert tsx.count("<wangtile ") == counts[fields["layout"]]
        for ref in fields["terrains"]:
            assert f'<wangcolor name="{ref[1:]}"' in tsx
        assert "terrain_set_0/mode" in (root / "assets" / "terrains" / f"{asset_id}.tres"
                                        ).read_text()
        assert (root / "assets" / "terrains" / f"{asset_id}.godot3.tres").is_file()
        with Image.open(base.with_suffix(".png")) as im:
            size = fields["tile_size"]
            assert im.width % size == 0 and im.height % size == 0


def test_the_hero_has_three_distinct_views(demo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = demo
    shown = _show(root, "hero")
    views = ASSETS["hero"]["views"]
    assert [j["job"] for j in shown["jobs"]] == [f"hero#{v}" for v in views]
    files = [root / "assets" / j["output"] for j in shown["jobs"]]
    assert [f.name for f in files] == [f"hero_{v}.png" for v in views]
    assert len({f.read_bytes() for f in files}) == 3
    seeds = {j["recipe"]["seed"] for j in shown["jobs"]}
    assert seeds == {ASSETS["hero"]["seed"]}  # views share the character's seed
    prompts = [j["recipe"]["prompt"] for j in shown["jobs"]]
    assert all(p.endswith(v["suffix"]) for p, v in zip(prompts, views.values(), strict=True))
    controls = [j["recipe"]["inputs"] for j in shown["jobs"]]  # each view: its own pose sheet
    assert [list(c) for c in controls] == [[f"views.{v}.control.0.image"] for v in views]


def test_plugins_reach_the_recipes(demo: tuple[Path, dict[str, Any]]) -> None:
    """Each plugin's part is in the recipe of the assets it touched, so the cache is honest."""
    root, _ = demo
    hero = _show(root, "hero")["jobs"][0]["recipe"]
    assert [s["name"] for s in hero["plugins"]["lora"]["params"]["styles"]] == ["dungeon_ink"]
    assert "dngnink" in hero["prompt"]  # the pack's trigger word
    brick = _show(root, "wall_brick")["jobs"][0]["recipe"]["plugins"]
    assert brick["lora"]["params"]["styles"][0]["weight"] == 0.6
    assert brick["seamless"]["params"]["tiling"] == "both"
    stone = _show(root, "floor_stone")["jobs"][0]["recipe"]["plugins"]
    digest = "sha256:" + hashlib.sha256((DEMO / ESRGAN).read_bytes()).hexdigest()
    assert stone["upscale"]["params"]["model"]["hash"] == digest
    assert stone["upscale"]["params"]["wrap"] == ["x", "y"]  # tiled, so upscaled wrap-around
    assert "lora" not in stone  # unstyled assets carry no style part
    torch_tile = _show(root, "torch")["jobs"][0]["recipe"]["plugins"]
    assert torch_tile["pixelart"]["params"] == ASSETS["torch"]["pixel_art"]


def test_a_second_build_generates_nothing(demo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = demo
    before, count = snapshot(root), generation_count(root)
    again = build_json(root)
    assert again["summary"]["built"] == 0
    assert again["summary"].get("restored", 0) == 0
    assert again["summary"]["up_to_date"] == len(ASSETS)
    assert {a["status"] for a in again["assets"]} <= {"up-to-date"}
    # one record per image, per derived map, and per file a step wrote
    assert generation_count(root) == count == (
        sum(len(a.get("views", [None])) for a in IMAGES.values())
        + sum(len(a.get("maps", [])) for a in IMAGES.values())
        + sum(STEP_FILES[a["kind"]] for a in ASSETS.values() if a["kind"] in STEP_KINDS))
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k.startswith("assets")} == {
        k: v for k, v in before.items() if k.startswith("assets")}


def test_plugins_lists_the_built_ins_and_the_project_plugin(
        demo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = demo
    res = run_cli(root, "plugins", "--json")
    assert res.exit_code == 0, res.output
    listed = {p["name"]: p for p in json.loads(res.stdout)}
    for name, dist in BUILT_IN.items():
        assert listed[name]["version"] == metadata.version(dist), name
    pixelart = listed["pixelart"]
    assert pixelart["version"] == "1.0"
    assert Path(pixelart["source"]).resolve() == (root / "plugins" / "pixelart.py").resolve()
    assert "register_postprocessors" in pixelart["hooks"]


def test_the_committed_upscaler_is_the_documented_tiny_esrgan(tmp_path: Path) -> None:
    """projects/demo/models/ holds exactly what its README's command makes: no mystery weights."""
    from assetforge_upscale.testing import build_tiny_esrgan

    fresh = build_tiny_esrgan(tmp_path / ESRGAN.name, scale=4, seed=0)
    assert fresh.read_bytes() == (DEMO / ESRGAN).read_bytes()
    assert ESRGAN.name in (DEMO / "README.md").read_text()
