"""The asset graph: image inputs, file-sourced assets, derived outputs and step-built kinds.

Real builds of real projects through the CLI, with the project-local plugin tests/graph_kit.py
(a prompt-coloured "flat" generator, a "gray" derived step and a "strip" step kind), so the
core's graph machinery is tested without the diffusion model's cost; generation through the
diffusers plugin is tested elsewhere.
"""

from __future__ import annotations

import io
import json
import sqlite3
import textwrap
from pathlib import Path

import pytest
from helpers import build_json, generation_count, run_cli
from PIL import Image

from assetforge.hashing import file_sha256

KIT = (Path(__file__).parent / "graph_kit.py").read_text()
CONFIG = """\
[project]
name = "graph"
output_dir = "assets"
seed_salt = "graph"
plugins_dir = "plugins"

[models.flat]
source = "flat"

[kinds.tile]
width = 16
height = 16
steps = 1
scheduler = "solid"

[kinds.character]
width = 16
height = 16
steps = 1
scheduler = "solid"
"""


def png(size: tuple[int, int], colour: tuple[int, ...], mode: str = "RGB") -> bytes:
    image = Image.new(mode, size, colour)
    image.putpixel((1, 1), (0,) * len(colour))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def graph_project(make_project):
    def make(manifest: str, files: dict[str, bytes] | None = None) -> Path:
        return make_project({"plugins/graph_kit.py": KIT, "manifests/a.toml": manifest,
                             **(files or {})}, config=CONFIG)
    return make


def write_manifest(root: Path, text: str) -> None:
    (root / "manifests" / "a.toml").write_text(textwrap.dedent(text))


def built(data: dict) -> set[str]:
    return {a["id"] for a in data["assets"] if a["status"] == "built"}


def statuses(data: dict) -> dict[str, str]:
    return {a["id"]: a["status"] for a in data["assets"]}


def ok_order(root: Path) -> list[str]:
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        return [r[0] for r in c.execute("SELECT job_id FROM generations WHERE status='ok'"
                                        " ORDER BY id")]


def pixels(path: Path) -> tuple[tuple[int, int], str, bytes]:
    with Image.open(path) as im:
        return im.size, im.mode, im.tobytes()


FOUR_LEVELS = """\
[strip.s]
parts = ["a", "b"]

[tile.d]
image = "@s"

[tile.b]
image = "@a"
gray = true

[tile.a]
prompt = "red brick wall"

[tile.x]
prompt = "unrelated"
"""


def test_four_level_graph_builds_in_order_and_a_second_build_generates_nothing(graph_project):
    root = graph_project(FOUR_LEVELS)
    data = build_json(root)
    assert built(data) == {"a", "b", "s", "d", "x"}
    order = ok_order(root)
    for up, down in (("a", "b"), ("b", "b/gray"), ("b", "s"), ("s", "d")):
        assert order.index(up) < order.index(down), order
    # the strip holds a then b, side by side; d is the strip's pixels exactly
    assert pixels(root / "assets" / "strips" / "s.png")[0] == (32, 16)
    assert pixels(root / "assets" / "tiles" / "d.png") == pixels(root / "assets/strips/s.png")
    listing = json.loads((root / "assets" / "strips" / "s.json").read_text())
    assert listing == {"frames": ["a", "b"]}
    n = generation_count(root)
    again = build_json(root)
    assert again["summary"]["built"] == 0 and again["summary"]["up_to_date"] == 5
    assert generation_count(root) == n


def test_editing_an_upstream_prompt_rebuilds_it_and_every_dependent_and_nothing_else(
        graph_project):
    root = graph_project(FOUR_LEVELS)
    build_json(root)
    n = generation_count(root)
    write_manifest(root, FOUR_LEVELS.replace("red brick wall", "mossy brick wall"))
    check = run_cli(root, "build", "--check", "--json")
    assert check.exit_code == 1
    plan = {a["id"]: a for a in json.loads(check.stdout)["assets"]}
    assert plan["a"]["status"] == "changed"
    assert plan["b"]["status"] == "stale" and plan["b"]["reason"].startswith("input @a is changed")
    assert plan["x"]["status"] == "up-to-date"
    assert generation_count(root) == n  # --check built nothing

    res = run_cli(root, "build", "--explain")
    assert res.exit_code == 0, res.output
    assert "b  (inputs changed: @a)" in res.stdout
    assert "a  (recipe changed: prompt)" in res.stdout
    data = build_json(root)
    assert data["summary"]["built"] == 0
    # a, b (and b's gray copy), s (both its files) and d were regenerated, in that order
    assert ok_order(root)[n:] == ["a", "b", "b/gray", "s", "s/strips/s.json", "d"]


def test_early_cutoff_an_identical_upstream_rebuild_rebuilds_nothing_downstream(graph_project):
    root = graph_project(FOUR_LEVELS)
    build_json(root)
    data = build_json(root, "--force", "a")
    assert built(data) == {"a"}  # same bytes: b, s and d keep their recipes
    assert build_json(root)["summary"]["built"] == 0


def test_a_hand_edit_upstream_is_kept_and_its_dependents_are_rebuilt_from_it(graph_project):
    root = graph_project(FOUR_LEVELS)
    build_json(root)
    a_out = root / "assets" / "tiles" / "a.png"
    edited = png((16, 16), (10, 200, 30))
    a_out.write_bytes(edited)
    data = build_json(root, "--explain")
    st = statuses(data)
    assert st["a"] == "skipped" and st["x"] == "up-to-date"
    assert {"b", "s", "d"} <= built(data)
    assert a_out.read_bytes() == edited  # the hand edit is kept
    b_out = root / "assets" / "tiles" / "b.png"
    assert pixels(b_out)[2] == pixels(a_out)[2]  # built from the edited pixels
    with Image.open(a_out) as im:
        gray = im.convert("L").tobytes()
    assert pixels(root / "assets" / "tiles" / "b_gray.png")[2] == gray
    show = json.loads(run_cli(root, "show", "b", "--json").stdout)
    assert show["inputs"]["image"] == {"ref": "@a", "hash": file_sha256(a_out), "asset": "a",
                                       "view": None}
    # and then it is stable: the edit stays "modified", dependents up to date
    again = build_json(root)
    assert again["summary"]["built"] == 0 and statuses(again)["b"] == "up-to-date"


def test_build_id_builds_what_it_needs_first(graph_project):
    root = graph_project(FOUR_LEVELS)
    data = build_json(root, "d")
    assert built(data) == {"a", "b", "s", "d"}  # not x


@pytest.mark.parametrize("manifest, message", [
    ('[tile.a]\nimage = "@b"\n\n[tile.b]\nimage = "@c"\n\n[tile.c]\nimage = "@a"\n',
     "a.toml:2: tile.a.image: cycle of image inputs: @a → @b → @c → @a"),
    ('[tile.a]\nprompt = "x"\n\n[tile.b]\nimage = "@aa"\n',
     "a.toml:5: tile.b.image: unknown asset 'aa' (did you mean 'a'?)"),
    ('[character.hero]\nprompt = "x"\nviews = ["front", "back"]\n\n'
     '[tile.b]\nimage = "@hero:side"\n',
     "a.toml:6: tile.b.image: unknown view 'side' of asset 'hero' (its views: front, back)"),
    ('[character.hero]\nprompt = "x"\nviews = ["front", "back"]\n\n[tile.b]\nimage = "@hero"\n',
     "a.toml:6: tile.b.image: asset 'hero' has views (front, back): name one, "
     'e.g. "@hero:front"'),
    ('[tile.b]\nimage = "art/none.png"\n',
     "a.toml:2: tile.b.image: missing file 'art/none.png'"),
    ('[tile.b]\nimage = "../outside.png"\n',
     "a.toml:2: tile.b.image: '../outside.png' resolves outside the project"),
    ('[tile.b]\nimage = "@b"\n', "a.toml:2: tile.b.image: cycle of image inputs: @b → @b"),
])
def test_graph_errors_are_manifest_errors_and_nothing_is_built(graph_project, manifest, message):
    root = graph_project('[tile.ok]\nprompt = "fine"\n\n' + manifest)
    (root.parent / "outside.png").write_bytes(png((8, 8), (1, 2, 3)))
    res = run_cli(root, "build")
    assert res.exit_code == 2, res.output
    assert message.replace("a.toml:", "a.toml:", 1) in _shift(res.stderr, 3), res.stderr
    assert "Traceback" not in res.output
    assert not (root / "assets").exists()


def _shift(stderr: str, by: int) -> str:
    """The manifest gets three lines ([tile.ok] …) in front: report lines as if it had not."""
    import re

    return re.sub(r"a\.toml:(\d+):", lambda m: f"a.toml:{int(m.group(1)) - by}:", stderr)


def test_file_sourced_asset_keeps_the_files_pixels_and_size(graph_project):
    art = png((20, 12), (200, 100, 50, 128), "RGBA")  # not the kind's 16x16, not a multiple of 8
    root = graph_project('[tile.scan]\nimage = "art/scan.png"\ngray = true\n',
                         {"art/scan.png": art})
    data = build_json(root)
    assert built(data) == {"scan"}
    out = root / "assets" / "tiles" / "scan.png"
    with Image.open(io.BytesIO(art)) as im:
        assert pixels(out) == (im.size, im.mode, im.tobytes())
    show = json.loads(run_cli(root, "show", "scan", "--json").stdout)
    recipe = show["jobs"][0]["recipe"]
    assert recipe["inputs"] == {"image": file_sha256(root / "art" / "scan.png")}
    assert "prompt" not in recipe and "model" not in recipe
    # the file changes: the asset (and its derived copy) is rebuilt; the inputs say why
    (root / "art" / "scan.png").write_bytes(png((20, 12), (0, 0, 255, 255), "RGBA"))
    res = run_cli(root, "status")
    assert "changed     scan  (inputs changed: art/scan.png)" in res.stdout
    assert built(build_json(root)) == {"scan"}
    assert pixels(out)[0] == (20, 12)


def test_file_sourced_asset_refuses_a_prompt_too(graph_project):
    root = graph_project('[tile.scan]\nimage = "art/scan.png"\nprompt = "x"\n',
                         {"art/scan.png": png((8, 8), (1, 2, 3))})
    res = run_cli(root, "build")
    assert res.exit_code == 2
    assert "a.toml:3: tile.scan.prompt: a file-sourced asset (image = …) has no prompt" \
        in res.stderr


def test_views_as_tables_collect_inputs_per_view(graph_project):
    # a view table's keys are type-checked and its image inputs belong to that view only
    manifest = ('[tile.pose]\nprompt = "pose"\n\n'
                '[character.hero]\nprompt = "knight"\n'
                'views.front = { suffix = "front view", guide = "@pose" }\n'
                'views.back = "back view"\n')
    root = graph_project(manifest)
    assert built(build_json(root)) == {"pose", "hero"}
    jobs = {j["job"]: j for j in json.loads(run_cli(root, "show", "hero", "--json").stdout)
            ["jobs"]}
    assert jobs["hero#front"]["recipe"]["inputs"] == {
        "views.front.guide": file_sha256(root / "assets/tiles/pose.png")}
    assert "inputs" not in jobs["hero#back"]["recipe"]
    assert jobs["hero#front"]["recipe"]["prompt"] == "knight, front view"
    write_manifest(root, manifest.replace('"pose"', '"other pose"'))
    assert built(build_json(root)) == {"pose", "hero"}
    rows = json.loads(run_cli(root, "history", "hero", "--json").stdout)
    assert sorted(r["job_id"] for r in rows) == ["hero#back", "hero#front", "hero#front"]

    write_manifest(root, '[character.hero]\nprompt = "knight"\n'
                   'views.front = { suffix = "front view", gray = "yes" }\n')
    res = run_cli(root, "build")
    assert res.exit_code == 2
    assert "a.toml:3: character.hero.views.front.gray: expected true or false, got a string" \
        in res.stderr


def test_hook_register_derived_outputs(graph_project):
    root = graph_project('[tile.a]\nprompt = "stone floor"\ngray = true\n')
    data = build_json(root)
    assert data["assets"][0]["outputs"] == ["tiles/a.png", "tiles/a_gray.png"]
    gray = root / "assets" / "tiles" / "a_gray.png"
    with Image.open(root / "assets" / "tiles" / "a.png") as im:
        assert pixels(gray)[2] == im.convert("L").tobytes()
    show = json.loads(run_cli(root, "show", "a", "--json").stdout)
    job = {j["job"]: j for j in show["jobs"]}["a/gray"]
    assert job["recipe"]["step"] == {"name": "gray", "version": "1", "params": {"mode": "L"}}
    assert job["recipe"]["inputs"] == {"source": file_sha256(root / "assets/tiles/a.png")}
    assert {o["output"]: o["hash"] for o in show["outputs"]} == {
        "tiles/a.png": file_sha256(root / "assets/tiles/a.png"),
        "tiles/a_gray.png": file_sha256(gray)}
    history = json.loads(run_cli(root, "history", "a", "--json").stdout)
    assert [r["job_id"] for r in history] == ["a", "a/gray"]

    # deleted: restored from the object store, not made again
    before = gray.read_bytes()
    gray.unlink()
    data = build_json(root)
    assert statuses(data)["a"] == "restored"
    assert gray.read_bytes() == before
    # verify checks it, and catches an edit of it
    assert run_cli(root, "verify").exit_code == 0
    regen = json.loads(run_cli(root, "verify", "--regenerate", "--json").stdout)
    assert {r["job_id"]: r["status"] for r in regen["regenerated"]} == {
        "a": "exact", "a/gray": "exact"}
    gray.write_bytes(png((16, 16), (9, 9, 9)))
    res = json.loads(run_cli(root, "verify", "--json").stdout)
    assert {f["job_id"]: f["status"] for f in res["files"]}["a/gray"] == "modified"


def test_step_kind_rebuilds_when_one_input_changes_and_not_otherwise(graph_project):
    manifest = ('[strip.s]\nparts = ["t_*"]\n\n[tile.t_1]\nprompt = "one"\n\n'
                '[tile.t_2]\nprompt = "two"\n\n[tile.other]\nprompt = "other"\n')
    root = graph_project(manifest)
    assert built(build_json(root)) == {"s", "t_1", "t_2", "other"}
    files = {p: (root / "assets/strips" / p).read_bytes() for p in ("s.png", "s.json")}
    # an unrelated asset changes: the strip is not rebuilt
    write_manifest(root, manifest.replace('"other"', '"another"'))
    assert built(build_json(root)) == {"other"}
    # one input changes: the strip is rebuilt, and explains which input
    write_manifest(root, manifest.replace('"two"', '"deux"'))
    data = build_json(root, "--explain")
    assert built(data) == {"t_2", "s"}
    assert {a["id"]: a["reason"] for a in data["assets"]}["s"] == "inputs changed: @t_2"
    # every file of the step is recorded with its hash, and restored from the store
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        rows = c.execute("SELECT job_id, output_path, output_hash FROM generations WHERE"
                         " asset_id='s' AND status='ok' ORDER BY id DESC LIMIT 2").fetchall()
    assert {(j, p) for j, p, _h in rows} == {("s", "strips/s.png"),
                                            ("s/strips/s.json", "strips/s.json")}
    for _j, p, h in rows:
        assert file_sha256(root / "assets" / p) == h
    (root / "assets/strips/s.json").unlink()
    write_manifest(root, manifest)  # back to "two": the first strip, restored
    data = build_json(root)
    assert statuses(data)["s"] == "restored"
    assert {p: (root / "assets/strips" / p).read_bytes() for p in files} == files
    assert run_cli(root, "verify").exit_code == 0
    regen = json.loads(run_cli(root, "verify", "--regenerate", "s", "--json").stdout)
    assert {r["job_id"]: r["status"] for r in regen["regenerated"]
            if r["asset_id"] == "s"} == {"s": "exact", "s/strips/s.json": "exact"}


def test_step_kind_keeps_its_state_new_frames_go_at_the_end(graph_project):
    manifest = '[strip.s]\nparts = ["t_*"]\n\n[tile.t_b]\nprompt = "b"\n'
    root = graph_project(manifest)
    build_json(root)
    write_manifest(root, manifest + '\n[tile.t_a]\nprompt = "a"\n')
    assert built(build_json(root)) == {"t_a", "s"}
    listing = json.loads((root / "assets/strips/s.json").read_text())
    assert listing == {"frames": ["t_b", "t_a"]}  # not sorted: the previous order is kept


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_bytes(data)
    tmp.replace(path)


def test_watch_rebuilds_a_dependent_when_its_input_file_or_an_upstream_output_changes(
        graph_project):
    from test_watch import Running

    root = graph_project('[tile.scan]\nimage = "art/scan.png"\n\n[tile.up]\nprompt = "up"\n\n'
                         '[tile.down]\nimage = "@up"\n', {"art/scan.png": png((8, 8), (1, 2, 3))})

    def ids(result) -> set[str]:
        return {a.id for a in result.assets if a.status == "built"}

    w = Running(root)
    try:
        assert ids(w.next_result(0, what="the initial build")) == {"scan", "up", "down"}
        # a repository file that is an input
        n = len(w.results)
        _replace(root / "art" / "scan.png", png((8, 8), (9, 8, 7)))
        r = w.next_result(n, lambda r: bool(ids(r)), "the input file change to be built")
        assert ids(r) == {"scan"}
        assert pixels(root / "assets/tiles/scan.png") == pixels(root / "art/scan.png")
        # a hand edit of an upstream output (inside output_dir): its dependent follows it
        n = len(w.results)
        _replace(root / "assets" / "tiles" / "up.png", png((16, 16), (50, 60, 70)))
        r = w.next_result(n, lambda r: bool(ids(r)), "the upstream edit to be built")
        assert ids(r) == {"down"}
        assert pixels(root / "assets/tiles/down.png") == pixels(root / "assets/tiles/up.png")
    finally:
        w.stop()


def test_a_crash_between_renames_of_a_group_leaves_nothing_recorded_and_recovers(
        graph_project, monkeypatch):
    import os

    import assetforge.steps

    manifest = '[strip.s]\nparts = ["t_*"]\n\n[tile.t_1]\nprompt = "one"\n'
    root = graph_project(manifest)
    build_json(root)
    n = generation_count(root)
    write_manifest(root, manifest.replace('"one"', '"uno"'))
    real_replace, calls = os.replace, []

    def crash_after_first(src, dst):
        if calls and str(dst).endswith("s.json"):
            raise OSError("power cut")
        calls.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(assetforge.steps.os, "replace", crash_after_first)
    data = build_json(root, "s")
    assert statuses(data)["s"] == "failed"
    assert generation_count(root) == n + 1  # t_1 only: none of the strip's files recorded
    assert not list((root / "assets" / "strips").glob(".*.tmp"))  # temp files removed
    monkeypatch.setattr(assetforge.steps.os, "replace", real_replace)
    # the half-published group is stale (its recipe is not the recorded one): restored
    data = build_json(root)
    assert statuses(data)["s"] == "restored"
    listing = json.loads((root / "assets/strips/s.json").read_text())
    assert listing == {"frames": ["t_1"]}
    assert run_cli(root, "verify").exit_code == 0


@pytest.mark.usefixtures("one_torch_thread")
def test_a_generated_upstream_feeds_its_dependents_through_the_real_pipeline(make_project):
    from conftest import BASE_CONFIG  # the tiny SD 1.5 model, 64 px, 2 steps

    config = BASE_CONFIG.replace('seed_salt = "test"\n',
                                 'seed_salt = "test"\nplugins_dir = "plugins"\n')
    root = make_project({"plugins/graph_kit.py": KIT, "manifests/a.toml":
                         '[tile.a]\nprompt = "stone"\n\n[tile.b]\nimage = "@a"\ngray = true\n'},
                        config=config)
    data = build_json(root)
    assert built(data) == {"a", "b"}
    a_out, b_out = root / "assets/tiles/a.png", root / "assets/tiles/b.png"
    assert pixels(b_out) == pixels(a_out)  # the generated pixels, exactly
    with Image.open(a_out) as im:
        assert pixels(root / "assets/tiles/b_gray.png")[2] == im.convert("L").tobytes()
    assert build_json(root)["summary"]["built"] == 0
