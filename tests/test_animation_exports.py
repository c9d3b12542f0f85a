"""Animation timing in the atlas exports, read by real consumers: PixiJS 8 in headless
Chromium plays an ``AnimatedSprite`` from the sheet, the Godot 3 engine loads the Godot 3
``SpriteFrames``, and godot-parser reads the Godot 4 one (Godot 4 cannot be installed here).

Installed by ``make setup``: chromium, godot3-server (apt), pixi.js (npm), playwright and
godot-parser (pip).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import test_exports_consumers as consumers
from assetforge_exports.steps import ATLAS_STEP
from exports_helpers import Graph, build, rgba, sprite, write
from godot_kit import run_godot3
from helpers import unvalidated_specs
from PIL import Image

from assetforge.project import load_project

JS = consumers.JS
browser = consumers.browser  # the PixiJS fixtures of the atlas tests: Chromium, a local server
serve = consumers.serve


@dataclass(frozen=True)
class Anim:
    name: str
    count: int
    fps: float
    loop: str


@dataclass
class AnimGraph(Graph):
    """The helper graph plus animations: frames are views ``NAME/K``, as the core has them."""

    anims: dict[str, dict[str, Anim]] = field(default_factory=dict)

    def animations(self, asset_id: str) -> dict[str, Anim]:
        return self.anims.get(asset_id, {})


WALK = 6


@pytest.fixture
def world(make_project):
    root = make_project()
    graph = AnimGraph(root)
    views = {"front": sprite(20, 32, 1), "side": sprite(20, 32, 2)}
    views.update({f"walk/{k}": sprite(20, 32, 10 + k) for k in range(WALK)})
    views.update({f"idle/{k}": sprite(20, 32, 30 + k) for k in range(3)})
    graph.add("hero", "character", views)
    graph.add("crate", "texture", sprite(16, 16, 50))
    graph.anims["hero"] = {"walk": Anim("walk", WALK, 8.0, "loop"),
                           "idle": Anim("idle", 3, 4.0, "pingpong")}
    return root, graph


def atlas(root: Path, graph: AnimGraph, extra: str = "", out: Path | None = None):
    spec = unvalidated_specs(root, '[atlas.chars]\nframes = ["hero", "crate"]\ngodot = true\n'
                             + extra)["chars"]
    pairs, built = build(ATLAS_STEP, spec, graph, load_project(root))
    if out is not None:
        write(built, out)
    return pairs, built


def frame_png(graph: AnimGraph, name: str) -> Image.Image:
    asset, _, view = name.partition("/")
    return Image.open(graph.path(asset, view or None)).convert("RGBA")


def test_json_has_animations_durations_and_aseprite_frame_tags(world) -> None:
    root, graph = world
    _, built = atlas(root, graph)
    doc = json.loads(built.files["atlases/chars.json"])
    walk = [f"hero/walk/{k}" for k in range(WALK)]
    assert doc["animations"]["hero/walk"] == walk
    assert doc["animations"]["hero/idle"] == ["hero/idle/0", "hero/idle/1", "hero/idle/2"]
    assert doc["animations"]["hero"] == ["hero/front", "hero/side"]  # views stay as before
    names = list(doc["frames"])
    tags = {t["name"]: t for t in doc["meta"]["frameTags"]}
    assert names[tags["hero/walk"]["from"]:tags["hero/walk"]["to"] + 1] == walk
    assert tags["hero/walk"]["direction"] == "forward"
    assert tags["hero/idle"]["direction"] == "pingpong"
    assert all(doc["frames"][n]["duration"] == 125 for n in walk)  # 1000 / 8 fps
    assert doc["frames"]["hero/idle/0"]["duration"] == 250
    assert doc["frames"]["crate"]["duration"] == 100


def test_fps_and_loop_are_in_the_recipe_inputs(world) -> None:
    root, graph = world
    before, _ = atlas(root, graph)
    graph.anims["hero"]["walk"] = Anim("walk", WALK, 12.0, "loop")
    after, _ = atlas(root, graph)
    assert before != after  # input names carry the timing: the atlas step's recipe changes
    graph.anims["hero"]["walk"] = Anim("walk", WALK, 8.0, "once")
    assert atlas(root, graph)[0] not in (before, after)


# -- PixiJS 8 ----------------------------------------------------------------------------------

def play(browser, base_url: str, name: str, steps: int) -> dict:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{base_url}/animation.html")
        page.wait_for_function("window.harnessReady === true")
        result = page.evaluate("([u, n, s]) => window.playAnimation(u, n, s)",
                               ["chars.json", name, steps])
    finally:
        page.close()
    assert errors == []
    return result


def test_pixijs_animated_sprite_steps_through_the_frames_in_order(world, browser,
                                                                   serve, tmp_path) -> None:
    root, graph = world
    out = tmp_path / "web"
    atlas(root, graph, out=out)
    folder = out / "atlases"
    base = serve(folder)
    (folder / "animation.html").write_bytes((JS / "animation.html").read_bytes())
    result = play(browser, base, "hero/walk", WALK + 2)
    assert result["renderer"] == "webgl" and result["total"] == WALK
    order = [s["frame"] for s in result["shown"]]
    assert order == list(range(WALK)) + [0, 1]  # in order, and round again: it loops
    for step in result["shown"]:
        name = f"hero/walk/{step['frame']}"
        assert step["label"] == name
        got = np.frombuffer(base64.b64decode(step["rgba"]), np.uint8).reshape(
            step["height"], step["width"], 4).copy()
        got[got[..., 3] == 0] = 0
        assert (got == rgba(frame_png(graph, name))).all(), f"{name}: pixels differ"


# -- Godot 3, the real engine ------------------------------------------------------------------

GODOT3_SCRIPT = """extends SceneTree

func _init():
    var sf = load("res://chars.godot3.tres")
    var img = Image.new()
    img.load("res://chars.png")
    var tex = ImageTexture.new()
    tex.create_from_image(img, 0)
    var names = sf.get_animation_names()
    for name in names:
        var n = sf.get_frame_count(name)
        print("OUT anim|%s|%d|%s|%s" % [name, n, sf.get_animation_loop(name),
                                         sf.get_animation_speed(name)])
        for i in range(n):
            var t = sf.get_frame(name, i)
            var r = t.region
            print("OUT frame|%s|%d|%d|%d|%d|%d" % [name, i, r.position.x, r.position.y,
                                                  r.size.x, r.size.y])
            t.atlas = tex
            var part = t.atlas.get_data().get_rect(t.region)
            part.save_png("res://seen_%s_%d.png" % [name.replace("/", "_"), i])
    print("ASSETFORGE_DONE")
    quit()
"""


def test_godot3_engine_loads_the_sprite_frames(world, tmp_path) -> None:
    root, graph = world
    out = tmp_path / "game"
    _, built = atlas(root, graph, out=out)
    folder = out / "atlases"
    lines = run_godot3(folder, GODOT3_SCRIPT)
    doc = json.loads(built.files["atlases/chars.json"])
    anims: dict[str, tuple[int, bool, float]] = {}
    frames: dict[str, list[tuple[int, int, int, int]]] = {}
    for line in lines:
        kind, name, *rest = line.split("|")
        if kind == "anim":
            anims[name] = (int(rest[0]), rest[1] == "True", float(rest[2]))
        else:
            frames.setdefault(name, []).append(tuple(int(v) for v in rest[1:]))
    assert anims["hero/walk"] == (WALK, True, 8.0)
    # pingpong, which SpriteFrames lacks, is written out forward then back, looping
    assert anims["hero/idle"] == (4, True, 4.0)
    assert set(anims) == {"hero/walk", "hero/idle", "hero/front", "hero/side", "crate"}
    assert anims["hero/front"][0] == 1  # a view is a one-frame animation
    order = {"hero/walk": [f"hero/walk/{k}" for k in range(WALK)],
             "hero/idle": ["hero/idle/0", "hero/idle/1", "hero/idle/2", "hero/idle/1"],
             "hero/front": ["hero/front"], "hero/side": ["hero/side"], "crate": ["crate"]}
    for name, names in order.items():
        want = [tuple(doc["frames"][n]["frame"][k] for k in "xywh") for n in names]
        assert frames[name] == want, name
        for i, n in enumerate(names):
            seen = Image.open(folder / f"seen_{name.replace('/', '_')}_{i}.png")
            assert (rgba(seen) == rgba(frame_png(graph, n))).all(), f"{name}[{i}]"


# -- Godot 4 (godot-parser) --------------------------------------------------------------------

def test_godot4_sprite_frames_parse(world) -> None:
    import godot_parser

    root, graph = world
    _, built = atlas(root, graph)
    doc = json.loads(built.files["atlases/chars.json"])
    res = godot_parser.parse(built.files["atlases/chars.tres"].decode())
    head = res.get_sections()[0]
    assert head.header.name == "gd_resource"
    assert head.header["type"] == "SpriteFrames" and head.header["format"] == 3
    subs = {s.header["id"]: s for s in res.get_sections("sub_resource")}
    exts = {s.header["id"]: s.header["path"] for s in res.get_sections("ext_resource")}
    assert list(exts.values()) == ["chars.png"]
    resource = res.get_sections("resource")[0]
    got = {}
    for a in resource["animations"]:
        regions = []
        for f in a["frames"]:
            sub = subs[f["texture"].id]
            assert sub.header["type"] == "AtlasTexture" and f["duration"] == 1.0
            assert exts[sub["atlas"].id] == "chars.png"
            regions.append(tuple(sub["region"].args))
        got[str(a["name"]).lstrip("&")] = (a["speed"], a["loop"], regions)
    walk = [f"hero/walk/{k}" for k in range(WALK)]
    assert got["hero/walk"] == (8.0, True, [tuple(doc["frames"][n]["frame"][k]
                                                  for k in "xywh") for n in walk])
    assert got["hero/idle"][:2] == (4.0, True) and len(got["hero/idle"][2]) == 4
    assert got["hero/front"][0] == 10.0 and len(got["hero/front"][2]) == 1
