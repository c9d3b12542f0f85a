"""The asset graph end to end, per view: a ControlNet pose per character view (diffusers) and
an atlas (exports) of cut-out, trimmed views (cutout), through real manifests and
``assetforge build`` on the tiny SD 1.5 model and the tiny builtin ControlNet (64 px, 2 steps).
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from helpers import build_json, run_cli, snapshot
from PIL import Image, ImageDraw

from assetforge.hashing import file_sha256

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NETS = """
[controlnets.pose]
source = "builtin:tiny-controlnet-sd15"
"""

HERO = """\
[character.hero]
prompt = "a knight"
views.front = { suffix = "front view", control = { image = "poses/front.png", model = "pose", scale = 0.8 } }
views.side = { suffix = "side view", control = { image = "poses/side.png", model = "pose" } }
"""  # noqa: E501  (views.front on line 3)

FLOOR = """
[texture.floor]
prompt = "stone floor"
"""

ATLAS = """
cutout = { method = "key", trim = true }

[atlas.chars]
frames = ["hero"]
"""


def pose(x: int, width: int = 8) -> bytes:
    """A white bar on black: a stick-figure "pose" the ControlNet is conditioned on."""
    image = Image.new("RGB", (64, 64))
    ImageDraw.Draw(image).rectangle((x, 4, x + width, 60), fill="white")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def hero_project(make_project):
    def make(manifest: str) -> Path:
        return make_project({"manifests/a.toml": manifest, "poses/front.png": pose(20),
                             "poses/side.png": pose(40)}, extra_config=NETS)
    return make


def statuses(data: dict) -> dict[str, str]:
    return {a["id"]: a["status"] for a in data["assets"]}


def ok_rows(root: Path) -> list[str]:
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        return [r[0] for r in c.execute("SELECT job_id FROM generations WHERE status='ok'"
                                        " ORDER BY id")]


def jobs(root: Path, asset_id: str) -> dict[str, dict]:
    res = run_cli(root, "show", asset_id, "--json")
    assert res.exit_code == 0, res.output
    return {j["job"]: j for j in json.loads(res.stdout)["jobs"]}


# -- 2. a ControlNet per view ------------------------------------------------------------------

def test_editing_one_views_pose_rebuilds_only_that_view(hero_project):
    root = hero_project(HERO + FLOOR)
    data = build_json(root)
    assert statuses(data) == {"hero": "built", "floor": "built"}, data
    front, side = (root / "poses" / "front.png", root / "poses" / "side.png")
    hero = jobs(root, "hero")
    assert hero["hero#front"]["recipe"]["inputs"] == {
        "views.front.control.0.image": file_sha256(front)}
    assert hero["hero#side"]["recipe"]["inputs"] == {
        "views.side.control.0.image": file_sha256(side)}
    assert "front view" in hero["hero#front"]["recipe"]["prompt"]
    characters = root / "assets" / "characters"
    side_before = (characters / "hero_side.png").read_bytes()
    front_before = (characters / "hero_front.png").read_bytes()
    assert build_json(root)["summary"]["built"] == 0

    front.write_bytes(pose(10, width=16))
    n = len(ok_rows(root))
    res = run_cli(root, "build", "--explain")
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stdout.splitlines() if x.split() and "hero" in x.split()[:2])
    assert "inputs changed: poses/front.png" in line, res.stdout
    assert ok_rows(root)[n:] == ["hero#front"]
    assert (characters / "hero_side.png").read_bytes() == side_before
    assert (characters / "hero_front.png").read_bytes() != front_before
    assert jobs(root, "hero")["hero#front"]["recipe"]["inputs"] == {
        "views.front.control.0.image": file_sha256(front)}
    assert build_json(root)["summary"]["built"] == 0


@pytest.mark.parametrize("bad, key, message", [
    ("scale = 0.8", "scale = 5", "control.scale: must be between 0 and 2"),
    ('model = "pose", scale', 'model = "stick", scale', "unknown ControlNet 'stick'"),
])
def test_a_bad_view_control_exits_2_with_file_and_line(hero_project, bad, key, message):
    root = hero_project(HERO)
    assert run_cli(root, "build").exit_code == 0
    before = snapshot(root)
    (root / "manifests" / "a.toml").write_text(HERO.replace(bad, key))
    for command in (["build"], ["build", "--check"]):
        res = run_cli(root, *command)
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        assert "a.toml:3: character.hero.views.front.control" in res.output, res.output
        assert message in res.output, res.output
    assert snapshot(root) == before  # earlier outputs and records untouched


# -- 4. an atlas of cut-out views --------------------------------------------------------------

def test_atlas_of_cut_out_views_rebuilds_with_one_edited_pose(hero_project):
    root = hero_project(HERO + ATLAS + FLOOR)
    data = build_json(root)
    assert statuses(data) == {"hero": "built", "chars": "built", "floor": "built"}, data
    characters, atlases = root / "assets" / "characters", root / "assets" / "atlases"
    for view in ("front", "side"):
        with Image.open(characters / f"hero_{view}.png") as im:
            assert im.mode == "RGBA"
            assert im.getchannel("A").getbbox() == (0, 0) + im.size  # trimmed
    doc = json.loads((atlases / "chars.json").read_text())
    assert sorted(doc["frames"]) == ["hero/front", "hero/side"]
    assert doc["animations"] == {"hero": ["hero/front", "hero/side"]}
    atlas_inputs = jobs(root, "chars")["chars"]["recipe"]["inputs"]
    assert sorted(atlas_inputs.values()) == sorted(
        file_sha256(characters / f"hero_{v}.png") for v in ("front", "side"))
    assert build_json(root)["summary"]["built"] == 0

    before = snapshot(root)
    (root / "poses" / "side.png").write_bytes(pose(30, width=20))
    n = len(ok_rows(root))
    data = build_json(root)
    assert statuses(data) == {"hero": "built", "chars": "built", "floor": "up-to-date"}, data
    rebuilt = ok_rows(root)[n:]
    assert rebuilt[0] == "hero#side" and {r.split("/")[0] for r in rebuilt[1:]} == {"chars"}
    changed = {path for path, digest in snapshot(root).items() if before.get(path) != digest}
    outputs = {p for p in changed if p.startswith("assets/")}
    # the JSON changes only if the trimmed side view's size does
    assert outputs - {"assets/atlases/chars.json"} == {"assets/characters/hero_side.png",
                                                        "assets/atlases/chars.png"}
    assert json.loads((atlases / "chars.json").read_text())["animations"] == doc["animations"]
    assert build_json(root)["summary"]["built"] == 0
