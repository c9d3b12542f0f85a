"""Animations of a character end to end: ``assetforge build`` on the tiny SD 1.5 (64 px, 2
steps), the tiny ControlNet for poses and the tiny motion adapter (AnimateDiff); frames as
outputs and graph nodes, the atlas with its Godot files, incremental rebuilds, verify."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from helpers import build_json, run_cli
from PIL import Image, ImageDraw

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = """
[controlnets.pose]
source = "builtin:tiny-controlnet-sd15"

[motion.tiny]
source = "builtin:tiny-motion-sd15"
"""

HERO = """\
[character.hero]
prompt = "a knight, plain green background"
cutout = "key"
views = ["front"]
animations.walk = { poses = "poses/walk/*.png", control = { model = "pose" }, fps = 8 }

[atlas.chars]
frames = ["hero"]
godot = true
"""

IDLE = """\
[character.ghost]
prompt = "a ghost"
animations.idle = { frames = 4, motion = "tiny", fps = 6, loop = "loop" }
"""


def pose(k: int) -> bytes:
    image = Image.new("RGB", (64, 64))
    ImageDraw.Draw(image).rectangle((10 + 8 * k, 4, 18 + 8 * k, 60), fill="white")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def ok_jobs(root: Path) -> list[str]:
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        return [r[0] for r in c.execute("SELECT job_id FROM generations WHERE status='ok' "
                                        "ORDER BY id")]


@pytest.fixture
def hero(make_project) -> Path:
    return make_project({"manifests/a.toml": HERO,
                         **{f"poses/walk/{k:02d}.png": pose(k) for k in range(3)}},
                        extra_config=CONFIG)


def test_pose_frames_build_as_outputs_nodes_and_atlas_frames(hero) -> None:
    data = build_json(hero)
    assert data["summary"]["failed"] == 0, data
    out = hero / "assets" / "characters"
    for k in range(3):
        assert (out / f"hero_walk_{k:02d}.png").is_file()
    shown = json.loads(run_cli(hero, "show", "hero", "--json").stdout)
    jobs = [j["job"] for j in shown["jobs"]]
    assert jobs[:4] == ["hero#front", "hero#walk/0", "hero#walk/1", "hero#walk/2"]
    doc = json.loads((hero / "assets" / "atlases" / "chars.json").read_text())
    assert doc["animations"]["hero/walk"] == ["hero/walk/0", "hero/walk/1", "hero/walk/2"]
    assert doc["frames"]["hero/walk/0"]["duration"] == 125
    assert (hero / "assets" / "atlases" / "chars.tres").is_file()
    assert (hero / "assets" / "atlases" / "chars.godot3.tres").is_file()
    # frames are aligned on their feet after the cutout: anchors recorded, jitter reported
    walk = shown["animations"]["walk"]
    assert walk["frames"] == ["hero#walk/0", "hero#walk/1", "hero#walk/2"]
    assert walk["jitter_px"] is not None and walk["jitter_px"] <= 1.0


def test_one_pose_edited_regenerates_one_frame_and_repacks(hero) -> None:
    build_json(hero)
    before = len(ok_jobs(hero))
    (hero / "poses" / "walk" / "01.png").write_bytes(pose(5))
    data = build_json(hero)
    new = ok_jobs(hero)[before:]
    generated = [j for j in new if j.startswith("hero#")]
    assert generated == ["hero#walk/1"], new
    assert any(j.startswith("chars") for j in new)  # the atlas is rebuilt
    assert data["summary"]["failed"] == 0


def test_fps_edited_repacks_without_generating(hero) -> None:
    build_json(hero)
    before = len(ok_jobs(hero))
    manifest = hero / "manifests" / "a.toml"
    manifest.write_text(manifest.read_text().replace("fps = 8", "fps = 12"))
    build_json(hero)
    new = ok_jobs(hero)[before:]
    assert new and not [j for j in new if j.startswith("hero#")], new
    doc = json.loads((hero / "assets" / "atlases" / "chars.json").read_text())
    assert doc["frames"]["hero/walk/0"]["duration"] == 83


def test_motion_animation_is_one_call_reproducible_and_rebuilt_whole(make_project) -> None:
    root = make_project({"manifests/a.toml": IDLE}, extra_config=CONFIG)
    data = build_json(root)
    assert data["summary"]["failed"] == 0, data
    frames = [root / "assets" / "characters" / f"ghost_idle_{k:02d}.png" for k in range(4)]
    assert all(f.is_file() for f in frames)
    assert len({f.read_bytes() for f in frames}) == 4  # four different frames
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        calls = [json.loads(m)["animation_call"] for (m,) in c.execute(
            "SELECT metrics_json FROM generations WHERE job_id LIKE 'ghost#idle/%'")]
    assert sorted(calls) == ["made every frame"] + ["shared"] * 3  # one AnimateDiff call
    res = run_cli(root, "verify", "--regenerate", "--json")
    assert res.exit_code == 0, res.output
    before = len(ok_jobs(root))
    manifest = root / "manifests" / "a.toml"
    manifest.write_text(manifest.read_text().replace('loop = "loop"', 'loop = "pingpong"'))
    build_json(root)
    assert sorted(ok_jobs(root)[before:]) == [f"ghost#idle/{k}" for k in range(4)]


def test_motion_with_poses_runs_the_controlnet_pipeline(make_project) -> None:
    manifest = ('[character.walker]\nprompt = "a knight"\nanimations.walk = { poses = '
                '"poses/walk/*.png", control = { model = "pose" }, motion = "tiny" }\n')
    root = make_project({"manifests/a.toml": manifest,
                         **{f"poses/walk/{k:02d}.png": pose(k) for k in range(3)}},
                        extra_config=CONFIG)
    data = build_json(root)
    assert data["summary"]["failed"] == 0, data
    shown = json.loads(run_cli(root, "show", "walker", "--json").stdout)
    assert [j["job"] for j in shown["jobs"]] == ["walker"] + [f"walker#walk/{k}"
                                                              for k in range(3)]
    recipe = shown["jobs"][1]["recipe"]
    assert recipe["generator"]["pipeline"] == "AnimateDiffControlNetPipeline"
    assert recipe["generator"]["animation"]["frame"] == 0
    assert set(recipe["inputs"]) == {f"animations.walk.poses.{k}" for k in range(3)}
    # editing one pose changes every frame (they are denoised together)
    before = len(ok_jobs(root))
    (root / "poses" / "walk" / "02.png").write_bytes(pose(6))
    build_json(root)
    assert sorted(ok_jobs(root)[before:]) == [f"walker#walk/{k}" for k in range(3)]


def test_bad_animation_is_a_manifest_error(make_project) -> None:
    root = make_project({"manifests/a.toml": '[character.hero]\nprompt = "x"\n'
                         'animations.walk = { frames = 4 }\n'}, extra_config=CONFIG)
    res = run_cli(root, "build")
    assert res.exit_code == 2
    assert "a.toml:3: character.hero.animations: walk.frames: frames = N needs motion" \
        in res.output
    assert not (root / "assets").exists()


def test_review_and_sheet_play_each_animation_beside_its_frames(hero) -> None:
    import numpy as np

    build_json(hero)
    res = run_cli(hero, "review", "--out", str(hero / "rev"))
    assert res.exit_code == 0, res.output
    data = json.loads((hero / "rev" / "review.json").read_text())
    (anim,) = data["animations"]
    assert (anim["asset"], anim["name"], anim["fps"]) == ("hero", "walk", 8.0)
    assert anim["frames"] == ["hero#walk/0", "hero#walk/1", "hero#walk/2"]
    assert anim["image"] in (hero / "rev" / "index.html").read_text()

    def shown(im: Image.Image) -> np.ndarray:
        a = np.asarray(im.convert("RGBA")).copy()
        a[a[..., 3] == 0] = 0
        return a

    with Image.open(hero / "rev" / anim["image"]) as im:
        assert im.format == "WEBP" and im.n_frames == 3
        for k in range(3):
            im.seek(k)
            with Image.open(hero / "assets" / "characters" / f"hero_walk_{k:02d}.png") as f:
                assert (shown(im) == shown(f)).all(), k  # lossless, frame k at step k
    res = run_cli(hero, "sheet", "hero", "--out", str(hero / "sheet.png"))
    assert res.exit_code == 0, res.output
    with Image.open(hero / "sheet.png") as im:  # an APNG: the animation's cell plays
        assert im.n_frames == 3
        im.seek(0)
        first = np.asarray(im.convert("RGB")).copy()
        im.seek(1)
        assert (np.asarray(im.convert("RGB")) != first).any()


def test_a_frame_is_a_graph_node(hero) -> None:
    manifest = hero / "manifests" / "b.toml"
    manifest.write_text('[texture.echo]\nprompt = "an echo"\ninit_image = "@hero:walk/1"\n')
    data = build_json(hero)
    assert data["summary"]["failed"] == 0, data
    shown = json.loads(run_cli(hero, "show", "echo", "--json").stdout)
    (ref,) = shown["inputs"].values()
    assert (ref["ref"], ref["asset"], ref["view"]) == ("@hero:walk/1", "hero", "walk/1")
    manifest.write_text('[texture.echo]\nprompt = "an echo"\ninit_image = "@hero:walk/7"\n')
    res = run_cli(hero, "build")
    assert res.exit_code == 2
    assert "b.toml:3: texture.echo.init_image: unknown view 'walk/7'" in res.output


def test_watch_sees_a_pose_added_to_the_glob(hero) -> None:
    """A new file matching a ``poses`` glob is a change for ``watch`` (a new frame), as an
    edited pose is; another file in that folder is not."""
    from assetforge.engine import Builder
    from assetforge.project import load_project
    from assetforge.watch import WatchSet

    builder = Builder(load_project(hero))
    assert builder.input_globs() == {"poses/walk/*.png"}
    ws = WatchSet.of(builder.project, [], builder.input_files(), builder.input_globs())
    walk = hero / "poses" / "walk"
    assert ws.relevant(str(walk / "00.png"))
    assert ws.relevant(str(walk / "03.png"))  # not there yet: a frame to come
    assert not ws.relevant(str(walk / "notes.txt"))
    assert walk.resolve() in ws.schedules


def test_pose_frames_batch_in_one_call_and_verify_exact(make_project) -> None:
    """``batch = 4``: the walk's three pose frames (one ControlNet, a pose each) are made in
    one call, each from its own pose; ``verify --regenerate`` remakes each alone, at its place
    in a call of four, byte for byte."""
    config = CONFIG.replace("[controlnets.pose]", "[models.tiny]\nsource = \"builtin:tiny-sd15\"\n"
                            "batch = 4\n\n[controlnets.pose]")
    from conftest import BASE_CONFIG

    root = make_project({"manifests/a.toml": HERO.split("[atlas.chars]")[0],
                         **{f"poses/walk/{k:02d}.png": pose(k) for k in range(3)}},
                        config=BASE_CONFIG.split("[models.tiny]")[0] + config
                        + BASE_CONFIG[BASE_CONFIG.index("[kinds.texture]"):])
    data = build_json(root)
    assert data["summary"]["failed"] == 0, data
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        rows = {job: (json.loads(r), json.loads(m)) for job, r, m in c.execute(
            "SELECT job_id, recipe_json, metrics_json FROM generations WHERE status='ok'")}
    for k in range(3):
        recipe, metrics = rows[f"hero#walk/{k}"]
        assert recipe["generator"]["batch_size"] == 4
        assert metrics["batch"] == {"jobs": 3, "index": k}
    frames = [Image.open(root / "assets" / "characters" / f"hero_walk_{k:02d}.png").tobytes()
              for k in range(3)]
    assert len(set(frames)) == 3  # each frame from its own pose
    res = run_cli(root, "verify", "--regenerate", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert {r["job_id"]: r["status"] for r in report["regenerated"]
            if "walk" in r["job_id"]} == dict.fromkeys(
        [f"hero#walk/{k}" for k in range(3)], "exact")
