"""The asset graph end to end, across plugins: img2img chains (diffusers), PBR maps (pbr) and
file-sourced cut-outs (cutout), and licences inherited through the graph, through real
manifests and ``assetforge build`` on the tiny SD 1.5 model (64 px, 2 steps).

ControlNet views and atlases of cut-out views are in tests/test_graph_e2e_views.py.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import BASE_CONFIG
from helpers import build_json, generation_count, run_cli
from PIL import Image, ImageDraw

from assetforge.hashing import file_sha256

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def statuses(data: dict) -> dict[str, str]:
    return {a["id"]: a["status"] for a in data["assets"]}


def built(data: dict) -> set[str]:
    return {a["id"] for a in data["assets"] if a["status"] == "built"}


def ok_rows(root: Path) -> list[str]:
    """Job ids of the successful generation rows, oldest first."""
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        return [r[0] for r in c.execute("SELECT job_id FROM generations WHERE status='ok'"
                                        " ORDER BY id")]


def show(root: Path, asset_id: str) -> dict:
    res = run_cli(root, "show", asset_id, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def recipe_of(root: Path, job_id: str) -> dict:
    asset_id = job_id.split("#")[0].split("/")[0]
    return {j["job"]: j for j in show(root, asset_id)["jobs"]}[job_id]["recipe"]


def pixels(path: Path) -> tuple[tuple[int, int], str, bytes]:
    with Image.open(path) as im:
        return im.size, im.mode, im.tobytes()


# -- 1. an img2img chain -----------------------------------------------------------------------

IMG2IMG = """\
[texture.wall]
prompt = "a brick wall"

[texture.wall_mossy]
prompt = "a mossy brick wall"
init_image = "@wall"
strength = 0.6
"""


def test_img2img_chain_rebuilds_what_changed_and_reads_a_hand_edit(make_project):
    root = make_project({"manifests/a.toml": IMG2IMG})
    data = build_json(root)
    assert built(data) == {"wall", "wall_mossy"}, data
    assert ok_rows(root) == ["wall", "wall_mossy"]
    wall = root / "assets" / "textures" / "wall.png"
    mossy = root / "assets" / "textures" / "wall_mossy.png"
    assert recipe_of(root, "wall_mossy")["inputs"] == {"init_image": file_sha256(wall)}
    assert pixels(mossy)[2] != pixels(wall)[2]  # img2img changed the picture

    n = generation_count(root)
    again = build_json(root)
    assert again["summary"]["built"] == 0 and generation_count(root) == n

    # an upstream rebuild with identical bytes: nothing downstream
    wall_bytes = wall.read_bytes()
    assert built(build_json(root, "--force", "wall")) == {"wall"}
    assert ok_rows(root)[n:] == ["wall"] and wall.read_bytes() == wall_bytes
    assert build_json(root)["summary"]["built"] == 0

    # an upstream prompt edit: both, upstream first
    n = generation_count(root)
    mossy_before = mossy.read_bytes()
    (root / "manifests" / "a.toml").write_text(IMG2IMG.replace('"a brick wall"',
                                                               '"a cracked brick wall"'))
    data = build_json(root)
    assert built(data) == {"wall", "wall_mossy"}
    assert ok_rows(root)[n:] == ["wall", "wall_mossy"]
    assert mossy.read_bytes() != mossy_before

    # a hand edit of wall.png: kept, reported modified; only wall_mossy rebuilt, from it
    with Image.open(wall) as im:
        edited = Image.fromarray(255 - np.asarray(im.convert("RGB")))
    edited.save(wall)
    edited_bytes = wall.read_bytes()
    status = run_cli(root, "status")
    assert ["modified", "wall"] in [x.split()[:2] for x in status.output.splitlines()], \
        status.output
    n = generation_count(root)
    data = build_json(root)
    assert statuses(data)["wall"] != "built" and built(data) == {"wall_mossy"}, data
    assert ok_rows(root)[n:] == ["wall_mossy"]
    assert wall.read_bytes() == edited_bytes
    assert recipe_of(root, "wall_mossy")["inputs"] == {"init_image": file_sha256(wall)}
    assert build_json(root)["summary"]["built"] == 0

    # "from the edited pixels": the same asset fed the edited file from the repository
    # generates exactly the same image.
    other = make_project({"manifests/a.toml": IMG2IMG.replace('"@wall"', '"art/wall.png"'),
                          "art/wall.png": edited_bytes}, name="from_file")
    assert built(build_json(other, "wall_mossy")) == {"wall_mossy"}
    assert pixels(other / "assets" / "textures" / "wall_mossy.png") == pixels(mossy)


# -- 3. PBR maps and cut-outs through builds ---------------------------------------------------

PBR = """\
[texture.floor]
prompt = "stone floor"
maps = ["normal", "height"]
normal = { strength = 3.0 }
"""


def test_pbr_maps_are_recorded_cached_and_rebuilt_alone(make_project):
    root = make_project({"manifests/a.toml": PBR})
    data = build_json(root)
    assert built(data) == {"floor"}, data
    textures = root / "assets" / "textures"
    normal, height = textures / "floor_normal.png", textures / "floor_height.png"
    assert normal.is_file() and height.is_file()
    assert recipe_of(root, "floor")["plugins"]["seamless"]  # a tiled texture
    outputs = {o["output"]: o["hash"] for o in show(root, "floor")["outputs"]}
    assert outputs == {f"textures/{p.name}": file_sha256(p)
                       for p in (textures / "floor.png", normal, height)}
    normal_recipe = recipe_of(root, "floor/normal")
    assert normal_recipe["step"]["params"]["strength"] == 3.0
    assert normal_recipe["inputs"] == {"source": file_sha256(textures / "floor.png")}

    n = generation_count(root)
    assert build_json(root)["summary"]["built"] == 0 and generation_count(root) == n

    floor_before, height_before, normal_before = (p.read_bytes() for p in
                                                  (textures / "floor.png", height, normal))
    (root / "manifests" / "a.toml").write_text(PBR.replace("3.0", "1.5"))
    build_json(root)
    assert ok_rows(root)[n:] == ["floor/normal"]  # not the image, not the height map
    assert normal.read_bytes() != normal_before
    assert (textures / "floor.png").read_bytes() == floor_before
    assert height.read_bytes() == height_before

    n = generation_count(root)
    normal_now = normal.read_bytes()
    normal.unlink()
    data = build_json(root)
    assert statuses(data)["floor"] == "restored" and generation_count(root) == n
    assert normal.read_bytes() == normal_now
    assert run_cli(root, "verify").exit_code == 0


def test_file_sourced_coin_is_cut_out_to_exact_transparency(make_project):
    coin = Image.new("RGB", (40, 30), (30, 160, 60))  # flat green background
    ImageDraw.Draw(coin).ellipse((8, 5, 27, 22), fill=(230, 190, 20))
    buf = io.BytesIO()
    coin.save(buf, format="PNG")
    shape = np.any(np.asarray(coin) != (30, 160, 60), axis=2)
    ys, xs = np.nonzero(shape)
    root = make_project({"art/coin.png": buf.getvalue(), "manifests/a.toml":
                         '[tile.coin]\nimage = "art/coin.png"\n'
                         'cutout = { tolerance = 0, binary = true, trim = true }\n'})
    data = build_json(root)
    assert built(data) == {"coin"} and generation_count(root) == 1, data
    with Image.open(root / "assets" / "tiles" / "coin.png") as im:
        assert im.mode == "RGBA"
        out = np.asarray(im)
    box = shape[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    assert out.shape[:2] == box.shape  # trimmed to the shape
    assert np.array_equal(out[..., 3] == 255, box) and set(np.unique(out[..., 3])) == {0, 255}
    source = np.asarray(coin)[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    assert np.array_equal(out[box][:, :3], source[box])  # the shape's pixels are the file's
    assert build_json(root)["summary"]["built"] == 0


# -- 5. licences through the graph -------------------------------------------------------------

LICENSED = BASE_CONFIG.replace('source = "builtin:tiny-sd15"\n',
                               'source = "builtin:tiny-sd15"\nlicense = "openrail++"\n') + """
[controlnets.pose]
source = "builtin:tiny-controlnet-sd15"

[policy]
require_license = true
"""

LICENSED_MANIFEST = """\
[texture.floor]
prompt = "stone floor"
maps = ["normal"]

[character.hero]
prompt = "a knight"
views.front = { suffix = "front view", control = { image = "poses/front.png", model = "pose" } }
views.side = { suffix = "side view", control = { image = "poses/side.png", model = "pose" } }
"""


def pose_png(x: int) -> bytes:
    image = Image.new("RGB", (64, 64))
    ImageDraw.Draw(image).rectangle((x, 4, x + 8, 60), fill="white")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_licences_follow_controlnets_and_derived_outputs(make_project):
    root = make_project({"manifests/a.toml": LICENSED_MANIFEST, "poses/front.png": pose_png(20),
                         "poses/side.png": pose_png(40)}, config=LICENSED)
    res = run_cli(root, "build", "--check")
    assert res.exit_code == 1, res.output
    assert "licence policy: asset hero:" in res.output, res.output
    assert "controlnet builtin:tiny-controlnet-sd15 has no known licence" in res.output
    assert "asset floor" not in res.output  # its model declares one

    cfg = root / "assetforge.toml"
    cfg.write_text(cfg.read_text().replace('source = "builtin:tiny-controlnet-sd15"\n',
                                           'source = "builtin:tiny-controlnet-sd15"\n'
                                           'license = "apache-2.0"\n'))
    res = run_cli(root, "build", "--check")
    assert res.exit_code == 1 and "licence" not in res.output, res.output  # only "not built"
    assert run_cli(root, "build").exit_code == 0
    assert run_cli(root, "build", "--check").exit_code == 0

    res = run_cli(root, "licenses", "--json")
    assert res.exit_code == 0, res.output
    outputs = {o["job"]: o for o in json.loads(res.stdout)["outputs"]}
    for view in ("front", "side"):
        found = {(lic["file"], lic["license"]) for lic in outputs[f"hero#{view}"]["licenses"]}
        assert found == {("builtin:tiny-sd15", "openrail++"),
                         ("builtin:tiny-controlnet-sd15", "apache-2.0")}, outputs
    assert {lic["license"] for lic in outputs["floor"]["licenses"]} == {"openrail++"}
    assert outputs["floor/normal"]["licenses"] == []
    (inherited,) = outputs["floor/normal"]["inherited"]
    assert inherited == inherited | {"license": "openrail++", "via": "source",
                                     "file": "builtin:tiny-sd15"}
