"""The ``atlas`` and ``tileset`` steps, called as the core calls them: ``inputs`` over a small
asset graph, then ``run`` on the PNG files the test wrote; plus their manifest keys."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from assetforge_exports.steps import ATLAS_STEP, TILESET_STEP
from exports_helpers import Graph, build, resolve, rgba, sprite
from helpers import unvalidated_specs
from PIL import Image

from assetforge.api import UserError, canonical_json
from assetforge.project import load_project

# The TexturePacker JSON-hash fields engines read, and their types.
FRAME_FIELDS = {"frame": dict, "rotated": bool, "trimmed": bool, "spriteSourceSize": dict,
                "sourceSize": dict, "duration": int}  # duration: Aseprite's, in ms
META_FIELDS = {"app": str, "version": str, "image": str, "format": str, "size": dict,
               "scale": str}


def validate_atlas_json(doc: dict) -> None:
    """Check ``doc`` against the JSON-hash field list (fails with the first mistake)."""
    assert set(doc) <= {"frames", "animations", "meta"}, set(doc)
    assert isinstance(doc["frames"], dict) and doc["frames"]
    for name, frame in doc["frames"].items():
        assert set(frame) - {"pivot", "anchor"} == set(FRAME_FIELDS), (name, set(frame))
        for key, kind in FRAME_FIELDS.items():
            assert isinstance(frame[key], kind), (name, key)
        for key in ("frame", "spriteSourceSize"):
            assert sorted(frame[key]) == ["h", "w", "x", "y"], (name, key)
            assert all(isinstance(v, int) and v >= 0 for v in frame[key].values())
        assert sorted(frame["sourceSize"]) == ["h", "w"]
        sss, src = frame["spriteSourceSize"], frame["sourceSize"]
        assert (sss["w"], sss["h"]) == (frame["frame"]["w"], frame["frame"]["h"])
        assert sss["x"] + sss["w"] <= src["w"] and sss["y"] + sss["h"] <= src["h"]
        assert frame["trimmed"] == ((sss["w"], sss["h"]) != (src["w"], src["h"]))
        if "pivot" in frame:
            assert sorted(frame["pivot"]) == ["x", "y"]
        assert frame.get("anchor") == frame.get("pivot")  # PixiJS's name for the same point
    meta = doc["meta"]
    assert set(meta) - {"related_multi_packs", "frameTags"} == set(META_FIELDS), set(meta)
    for key, kind in META_FIELDS.items():
        assert isinstance(meta[key], kind), key
    assert meta["format"] == "RGBA8888" and sorted(meta["size"]) == ["h", "w"]
    for names in doc.get("animations", {}).values():
        assert all(isinstance(n, str) for n in names)
    order = list(doc["frames"])
    for tag in meta.get("frameTags", []):  # Aseprite: from/to index the frames, inclusive
        assert order[tag["from"]:tag["to"] + 1] == doc["animations"][tag["name"]]


def frame_pixels(page: Image.Image, frame: dict) -> Image.Image:
    """A frame's source image rebuilt from the page: un-rotate, then place at its trim offset."""
    f, sss, src = frame["frame"], frame["spriteSourceSize"], frame["sourceSize"]
    w, h = (f["h"], f["w"]) if frame["rotated"] else (f["w"], f["h"])
    region = page.crop((f["x"], f["y"], f["x"] + w, f["y"] + h))
    if frame["rotated"]:
        region = region.transpose(Image.Transpose.ROTATE_90)  # stored 90° clockwise
    full = Image.new("RGBA", (src["w"], src["h"]), (0, 0, 0, 0))
    full.paste(region, (sss["x"], sss["y"]))
    return full


@pytest.fixture
def world(make_project):
    """A project with a character (three views, not in name order), walls and tiles."""
    root = make_project()
    graph = Graph(root)
    graph.add("hero", "character", {"front": sprite(24, 40, 1, (3, 2, 4, 5)),
                                     "side": sprite(20, 40, 2, (1, 6, 2, 0)),
                                     "back": sprite(24, 40, 3, (0, 0, 0, 0))})
    graph.add("wall_brick", "texture", sprite(32, 32, 4))
    graph.add("wall_moss", "texture", sprite(32, 16, 5, (0, 3, 0, 3)))
    graph.add("floor", "tile", sprite(16, 16, 6))
    graph.add("chest", "tile", sprite(16, 16, 7, (2, 2, 2, 2)))
    graph.add("crate", "tile", sprite(32, 32, 8))  # another size: resized for tilesets
    return root, graph


def spec_of(root, manifest: str, asset_id: str):
    return unvalidated_specs(root, manifest)[asset_id]


ATLAS = """
[atlas.sprites]
frames = ["hero", "wall_*"]
trim = true
pivots = { "hero/*" = [0.5, 1.0] }
"""


def sources(graph: Graph) -> dict[str, Image.Image]:
    out = {}
    for asset in graph.ids():
        for view in graph.views(asset) or [None]:
            name = f"{asset}/{view}" if view else asset
            out[name] = Image.open(graph.path(asset, view)).convert("RGBA")
    return out


def test_atlas_inputs_expand_ids_patterns_and_views(world) -> None:
    root, graph = world
    pairs = ATLAS_STEP.inputs(spec_of(root, ATLAS, "sprites"), graph, None)
    assert pairs == [("frames.hero.2.back", "@hero:back"), ("frames.hero.0.front", "@hero:front"),
                     ("frames.hero.1.side", "@hero:side"), ("frames.wall_brick", "@wall_brick"),
                     ("frames.wall_moss", "@wall_moss")]
    one_view = spec_of(root, '[atlas.a]\nframes = ["hero:side", "@floor"]\n', "a")
    assert [r for _, r in ATLAS_STEP.inputs(one_view, graph, None)] == ["@floor", "@hero:side"]
    tiles = spec_of(root, '[atlas.a]\nkinds = ["tile"]\n', "a")
    assert [r for _, r in ATLAS_STEP.inputs(tiles, graph, None)] == ["@chest", "@crate",
                                                                     "@floor"]


def test_atlas_json_and_pixels_reconstruct_every_source(world, tmp_path) -> None:
    root, graph = world
    _, result = build(ATLAS_STEP, spec_of(root, ATLAS, "sprites"), graph, load_project(root))
    assert sorted(result.files) == ["atlases/sprites.json", "atlases/sprites.png"]
    doc = json.loads(result.files["atlases/sprites.json"])
    validate_atlas_json(doc)
    page = Image.open(io.BytesIO(result.files["atlases/sprites.png"]))
    assert page.mode == "RGBA" and list(page.size) == [doc["meta"]["size"]["w"],
                                                      doc["meta"]["size"]["h"]]
    assert doc["meta"]["image"] == "sprites.png" and "related_multi_packs" not in doc["meta"]
    srcs = sources(graph)
    assert sorted(doc["frames"]) == ["hero/back", "hero/front", "hero/side", "wall_brick",
                                     "wall_moss"]
    for name, frame in doc["frames"].items():
        assert (rgba(frame_pixels(page, frame)) == rgba(srcs[name])).all(), name
    assert doc["frames"]["hero/front"]["trimmed"] is True
    assert doc["frames"]["hero/front"]["spriteSourceSize"] == {"x": 3, "y": 2, "w": 17, "h": 33}
    assert doc["frames"]["hero/back"]["trimmed"] is False
    assert doc["frames"]["hero/side"]["pivot"] == {"x": 0.5, "y": 1.0}
    assert "pivot" not in doc["frames"]["wall_brick"]
    # The character's frames in the order of its views (front, side, back), not by name.
    assert doc["animations"] == {"hero": ["hero/front", "hero/side", "hero/back"]}
    assert result.state == {"frames": sorted(doc["frames"])}


def test_atlas_frames_are_extruded_and_padded(world) -> None:
    root, graph = world
    spec = spec_of(root, '[atlas.a]\nframes = ["wall_*"]\npadding = 3\nextrude = 2\n', "a")
    _, result = build(ATLAS_STEP, spec, graph, load_project(root))
    doc = json.loads(result.files["atlases/a.json"])
    page = np.asarray(Image.open(io.BytesIO(result.files["atlases/a.png"])))
    rects = []
    for frame in doc["frames"].values():
        f = frame["frame"]
        x, y, w, h = f["x"], f["y"], f["w"], f["h"]
        inner = page[y:y + h, x:x + w]
        assert (page[y - 2:y, x:x + w] == inner[0]).all()  # two rows of the top edge above
        assert (page[y:y + h, x + w:x + w + 2] == inner[:, -1:]).all()  # right edge repeated
        rects.append((x - 2, y - 2, w + 4, h + 4))
    (xa, ya, wa, ha), (xb, yb, wb, hb) = rects
    assert (xa + wa + 3 <= xb or xb + wb + 3 <= xa or ya + ha + 3 <= yb or yb + hb + 3 <= ya)


def test_atlas_is_byte_identical_whatever_the_input_order(world) -> None:
    root, graph = world
    spec = spec_of(root, ATLAS, "sprites")
    project = load_project(root)
    pairs = ATLAS_STEP.inputs(spec, graph, None)
    first = ATLAS_STEP.run(spec, resolve(graph, pairs), project, None)
    again = ATLAS_STEP.run(spec, resolve(graph, list(reversed(pairs))), project, None)
    assert first.files == again.files


def test_atlas_overflow_writes_pages_that_name_each_other(world) -> None:
    root, graph = world
    spec = spec_of(root, '[atlas.a]\nframes = ["hero", "wall_*"]\nmax_size = 48\n'
                         'output = "ui/a.png"\n', "a")
    _, result = build(ATLAS_STEP, spec, graph, load_project(root))
    jsons = sorted(k for k in result.files if k.endswith(".json"))
    assert jsons[:2] == ["ui/a-1.json", "ui/a-2.json"] and "ui/a.json" in jsons
    docs = {k: json.loads(result.files[k]) for k in jsons}
    names = [n for d in docs.values() for n in d["frames"]]
    assert sorted(names) == ["hero/back", "hero/front", "hero/side", "wall_brick", "wall_moss"]
    for key, doc in docs.items():
        validate_atlas_json(doc)
        base = key.rsplit("/", 1)[1]
        assert doc["meta"]["image"] == base.replace(".json", ".png")
        others = sorted(k.rsplit("/", 1)[1] for k in jsons if k != key)
        assert sorted(doc["meta"]["related_multi_packs"]) == others
        assert doc["meta"]["size"]["w"] <= 48 and doc["meta"]["size"]["h"] <= 48


def test_atlas_frame_larger_than_max_size_is_a_located_error(world) -> None:
    root, graph = world
    spec = spec_of(root, '[atlas.a]\nframes = ["wall_brick"]\nmax_size = 32\n', "a")
    with pytest.raises(UserError) as e:
        build(ATLAS_STEP, spec, graph, load_project(root))
    assert str(e.value) == (f"{root / 'manifests/game.toml'}:3: atlas.a.max_size: frame "
                            "'wall_brick' is 34×34 (with extrude), larger than a 32×32 page; "
                            "raise max_size or shrink the frame")


def test_atlas_params_hold_every_option_and_are_json(world) -> None:
    root, _ = world
    base = ATLAS_STEP.params(spec_of(root, ATLAS, "sprites"))
    assert base["padding"] == 2 and base["extrude"] == 1 and base["trim"] is True
    assert base["max_size"] == 4096 and base["allow_rotation"] is False
    assert base["output"] == "atlases/sprites"
    canonical_json(base)
    changed = ATLAS_STEP.params(spec_of(root, ATLAS + "padding = 4\n", "sprites"))
    assert changed != base
    # Pivot patterns written in another order mean the same atlas.
    a = spec_of(root, '[atlas.a]\nframes = ["hero"]\npivots = { "*" = [0, 0], '
                      '"hero/*" = [1, 1] }\n', "a")
    b = spec_of(root, '[atlas.a]\nframes = ["hero"]\npivots = { "hero/*" = [1, 1], '
                      '"*" = [0, 0] }\n', "a")
    assert canonical_json(ATLAS_STEP.params(a)) == canonical_json(ATLAS_STEP.params(b))


@pytest.mark.parametrize(("manifest", "message"), [
    ('frames = ["hreo"]', "frames: unknown asset 'hreo' (did you mean 'hero'?)"),
    ('frames = ["slime_*"]', "frames: pattern 'slime_*' matches no asset"),
    ('frames = ["hero:left"]', "frames: asset 'hero' has no view 'left' (views: front, side, "
                               "back)"),
    ('frames = ["other"]', "frames: 'other' is not an image (it is [atlas.other]); list the "
                           "assets it is made of instead"),
    ('kinds = ["tiel"]', "kinds: no asset of kind 'tiel' (kinds with assets: character, "
                         "texture, tile)"),
])
def test_atlas_selection_mistakes_name_file_line_and_key(world, manifest, message) -> None:
    root, graph = world
    graph.assets["other"] = ("atlas", [])
    spec = spec_of(root, f"[atlas.a]\n{manifest}\n", "a")
    with pytest.raises(UserError) as e:
        ATLAS_STEP.inputs(spec, graph, None)
    assert str(e.value) == f"{root / 'manifests/game.toml'}:2: atlas.a.{message}"


TILESET = """
[tileset.dungeon]
kinds = ["tile"]
tile_width = 16
tile_height = 16
columns = 2
spacing = 1
margin = 2
"""


def parse_tsx(data: bytes) -> tuple[ET.Element, dict[int, dict[str, str]]]:
    root = ET.fromstring(data)
    props = {int(t.get("id")): {p.get("name"): p.get("value") for p in t.iter("property")}
             for t in root.iter("tile")}
    return root, props


def test_tileset_writes_the_grid_and_a_tsx(world) -> None:
    root, graph = world
    pairs, result = build(TILESET_STEP, spec_of(root, TILESET, "dungeon"), graph,
                          load_project(root))
    assert pairs == [("tiles.0.chest", "@chest"), ("tiles.1.crate", "@crate"),
                     ("tiles.2.floor", "@floor")]
    assert sorted(result.files) == ["tilesets/dungeon.png", "tilesets/dungeon.tsx"]
    tsx, props = parse_tsx(result.files["tilesets/dungeon.tsx"])
    assert {k: tsx.get(k) for k in ("name", "tilewidth", "tileheight", "tilecount", "columns",
                                    "spacing", "margin")} == {
        "name": "dungeon", "tilewidth": "16", "tileheight": "16", "tilecount": "4",
        "columns": "2", "spacing": "1", "margin": "2"}
    image = tsx.find("image")
    # 2 columns × 2 rows of 16 px, 1 px apart, 2 px margin: 2 + 16 + 1 + 16 + 2 = 37.
    assert image.attrib == {"source": "dungeon.png", "width": "37", "height": "37"}
    png = Image.open(io.BytesIO(result.files["tilesets/dungeon.png"]))
    assert png.size == (37, 37)
    hashes = dict(resolve(graph, pairs).items())
    for slot, (name, _) in enumerate(pairs):
        asset = name.split(".")[2]
        assert props[slot] == {"asset": asset, "source_hash": hashes[name].hash}
        x, y = 2 + (slot % 2) * 17, 2 + (slot // 2) * 17
        src = Image.open(graph.path(asset)).convert("RGBA")
        expected = src.resize((16, 16), Image.Resampling.NEAREST)  # crate is 32 px
        assert (rgba(png.crop((x, y, x + 16, y + 16))) == rgba(expected)).all(), asset
    assert not np.asarray(png.crop((19, 19, 35, 35))).any()  # the unused cell is transparent
    assert result.state == {"tiles": ["chest", "crate", "floor"]}


def test_tileset_adding_a_tile_appends_it_and_keeps_the_other_ids(world) -> None:
    root, graph = world
    spec = spec_of(root, TILESET, "dungeon")
    project = load_project(root)
    _, first = build(TILESET_STEP, spec, graph, project)
    graph.add("altar", "tile", sprite(16, 16, 9))  # sorts first, must go last
    _, second = build(TILESET_STEP, spec, graph, project, first.state)
    _, before = parse_tsx(first.files["tilesets/dungeon.tsx"])
    _, after = parse_tsx(second.files["tilesets/dungeon.tsx"])
    assert {i: p["asset"] for i, p in after.items()} == {0: "chest", 1: "crate", 2: "floor",
                                                         3: "altar"}
    assert {i: after[i] for i in before} == before
    # Removing a tile leaves its cell empty; the rest keep their ids.
    graph.remove("crate")
    _, third = build(TILESET_STEP, spec, graph, project, second.state)
    _, props = parse_tsx(third.files["tilesets/dungeon.tsx"])
    assert {i: p["asset"] for i, p in props.items()} == {0: "chest", 2: "floor", 3: "altar"}
    png = Image.open(io.BytesIO(third.files["tilesets/dungeon.png"]))
    assert not np.asarray(png.crop((19, 2, 35, 18))).any()
    assert third.state == {"tiles": ["chest", "crate", "floor", "altar"]}


def test_tileset_resize_false_refuses_another_size(world) -> None:
    root, graph = world
    spec = spec_of(root, TILESET + "resize = false\n", "dungeon")
    with pytest.raises(UserError) as e:
        build(TILESET_STEP, spec, graph, load_project(root))
    assert str(e.value) == (f"{root / 'manifests/game.toml'}:4: tileset.dungeon.tile_width: "
                            "tile 'crate' is 32×32, not 16×16; set resize = true to resize it "
                            "with the nearest filter, or change tile_width/tile_height")


def test_tileset_of_a_character_names_each_view(world) -> None:
    root, graph = world
    spec = spec_of(root, '[tileset.t]\ntiles = ["hero"]\ntile_width = 24\ntile_height = 40\n',
                   "t")
    pairs, result = build(TILESET_STEP, spec, graph, load_project(root))
    assert [n for n, _ in pairs] == ["tiles.0.hero.back", "tiles.1.hero.front",
                                     "tiles.2.hero.side"]
    _, props = parse_tsx(result.files["tilesets/t.tsx"])
    assert props[1]["asset"] == "hero" and props[1]["view"] == "front"


DETERMINISM_PROBE = """
import hashlib, json, sys
from pathlib import Path
sys.path[:0] = [sys.argv[2]]
from exports_helpers import Graph, build, sprite
from helpers import unvalidated_specs
from assetforge.project import load_project
from assetforge_exports.steps import ATLAS_STEP, TILESET_STEP
root = Path(sys.argv[1])
(root / "assetforge.toml").write_text('[project]\\nname = "p"\\n')
graph = Graph(root)
for i in range(12):
    graph.add(f"s{i:02d}", "tile", sprite(8 + 3 * i, 30 - 2 * i, i, (i % 3, 1, 0, i % 2)))
graph.add("hero", "character", {"front": sprite(20, 30, 50), "back": sprite(20, 30, 51)})
specs = unvalidated_specs(root, '[atlas.a]\\nframes = ["*"]\\ntrim = true\\n'
                                'allow_rotation = true\\nmax_size = 64\\n'
                                '[tileset.t]\\nkinds = ["tile"]\\ntile_width = 16\\n'
                                'tile_height = 16\\n')
files = {}
for step, spec in ((ATLAS_STEP, specs["a"]), (TILESET_STEP, specs["t"])):
    files.update(build(step, spec, graph, load_project(root))[1].files)
print(json.dumps({k: hashlib.sha256(v).hexdigest() for k, v in sorted(files.items())}))
"""


def test_two_fresh_projects_in_two_processes_give_identical_bytes(tmp_path) -> None:
    """Another process, another hash seed, another folder: the same files, byte for byte."""
    tests = str(Path(__file__).resolve().parent)
    digests = []
    for n, seed in enumerate(("1", "2")):
        root = tmp_path / f"fresh{n}"
        root.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", DETERMINISM_PROBE, str(root), tests],
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        digests.append(json.loads(out.stdout))
    assert digests[0] == digests[1]
    assert len([k for k in digests[0] if k.startswith("atlases/a")]) >= 4  # several pages
    assert sorted(k for k in digests[0] if k.startswith("tilesets/")) == ["tilesets/t.png",
                                                                          "tilesets/t.tsx"]
