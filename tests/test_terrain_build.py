"""Terrain sets through whole ``assetforge build`` runs: the graph step, its records, errors,
reproducibility, and sets with a transition painted by the real tiny model."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from assetforge_terrain import layout, seams
from helpers import build_json, run_cli, snapshot
from terrain_kit import MANIFEST, project_files, read_tiles, set_path, tiling_texture

SUFFIXES = (".png", ".tsx", ".tres", ".godot3.tres", ".sample.png")


def statuses(data: dict) -> dict[str, str]:
    return {a["id"]: a["status"] for a in data["assets"]}


def set_digests(root: Path) -> dict[str, str]:
    base = root / "assets" / "terrains"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(base.iterdir())}


def test_build_noop_edit_one_terrain_and_verify(make_project):
    root = make_project(project_files())
    first = build_json(root)
    assert statuses(first) == {"dirt": "built", "grass": "built", "ground": "built",
                               "ground4": "built"}, first
    assert sorted(set_digests(root)) == sorted(f"{n}{s}" for n in ("ground", "ground4")
                                               for s in SUFFIXES)
    shown = json.loads(run_cli(root, "show", "ground", "--json").stdout)
    listed = json.dumps(shown)
    for suffix in SUFFIXES:
        assert f"terrains/ground{suffix}" in listed
    # no-op
    again = build_json(root)
    assert again["summary"]["built"] == 0 and set(statuses(again).values()) == {"up-to-date"}
    # edit one terrain: it and both sets rebuild, the other terrain does not
    before = set_digests(root)
    (root / "art" / "grass.png").write_bytes(tiling_texture(64, 7))
    explain = run_cli(root, "build", "--dry-run", "--explain")
    assert "ground  (input @grass is changed)" in explain.output, explain.output
    assert "ground4  (input @grass is changed)" in explain.output
    after = build_json(root)
    assert statuses(after) == {"dirt": "up-to-date", "grass": "built", "ground": "built",
                               "ground4": "built"}, after
    changed = {k for k, v in set_digests(root).items() if before[k] != v}
    assert {"ground.png", "ground4.png", "ground.sample.png"} <= changed
    # review shows the set in use: the sample map painted with it, before and after
    review = run_cli(root, "review", "--format", "md")
    assert review.exit_code == 0, review.output
    assert "`terrains/ground.sample.png`" in review.output
    assert "`terrains/ground4.sample.png`" in review.output
    assert build_json(root)["summary"]["built"] == 0
    res = run_cli(root, "verify")
    assert res.exit_code == 0, res.output


def test_an_edited_option_rebuilds_that_set_only(make_project):
    root = make_project(project_files())
    build_json(root)
    manifest = root / "manifests" / "game.toml"
    manifest.write_text(manifest.read_text().replace("tile_size = 64", "tile_size = 48"))
    data = build_json(root)
    assert statuses(data) == {"dirt": "up-to-date", "grass": "up-to-date",
                              "ground": "up-to-date", "ground4": "built"}
    assert "48" in set_path(root, "ground4", ".tsx").read_text().split("tilewidth=")[1][:5]


def test_two_fresh_projects_write_byte_identical_sets(make_project):
    a = make_project(project_files(), name="a")
    b = make_project(project_files(), name="b")
    build_json(a)
    build_json(b)
    da, db = set_digests(a), set_digests(b)
    assert da == db and len(da) == 10


def test_deleted_set_files_are_restored_without_rebuilding(make_project):
    root = make_project(project_files())
    build_json(root)
    digests = set_digests(root)
    set_path(root, "ground", ".tres").unlink()
    data = build_json(root)
    assert statuses(data)["ground"] == "restored"
    assert set_digests(root) == digests


ERRORS = [
    ('terrains = ["@dirt", "@grass"]', 'terrains = ["@dirt"]', "terrains",
     "exactly two asset references"),
    ('terrains = ["@dirt", "@grass"]', 'terrains = ["@dirt", "@grass", "@dirt"]', "terrains",
     "exactly two"),
    ('layout = "blob"', 'layout = "hex"', "layout", "must be one of corner, blob"),
    ('layout = "blob"', 'layout = "blob"\ntransition = { strength = 0.5 }', "transition",
     "prompt: missing"),
    ('layout = "blob"', 'layout = "blob"\nmodel = "nope"\ntransition = { prompt = "foam" }',
     "transition", r"a transition is painted by a model: no \[models\.nope\] table"),
]


@pytest.mark.parametrize("old,new,key,message", ERRORS)
def test_bad_terrain_tables_are_located_errors(make_project, old, new, key, message):
    root = make_project(project_files())
    manifest = root / "manifests" / "game.toml"
    manifest.write_text(MANIFEST.replace(old, new, 1))
    res = run_cli(root, "build")
    assert res.exit_code == 2
    line = next(i for i, text in enumerate(manifest.read_text().splitlines(), 1)
                if text.startswith(f"{key} ="))
    assert re.search(rf"error: .*game\.toml:{line}: terrain\.ground\.{key}: .*{message}",
                     res.output), res.output
    assert "Traceback" not in res.output
    assert not (root / "assets").exists()


def test_a_terrain_that_does_not_tile_is_refused(make_project):
    root = make_project(project_files())
    manifest = root / "manifests" / "game.toml"
    text = MANIFEST.replace('image = "art/grass.png"\ntiling = "both"',
                            'image = "art/grass.png"\ntiling = "x"')
    manifest.write_text(text)
    before = snapshot(root)
    res = run_cli(root, "build")
    assert res.exit_code == 2
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("terrains ="))
    assert re.search(rf"game\.toml:{line}: terrain\.ground\.terrains: @grass does not tile "
                     r"on both axes", res.output), res.output
    assert snapshot(root) == before
    # a file-sourced texture that declares no tiling does not tile either
    manifest.write_text(MANIFEST.replace('image = "art/grass.png"\ntiling = "both"',
                                         'image = "art/grass.png"'))
    res = run_cli(root, "build")
    assert res.exit_code == 2 and "declare tiling" in res.output


TRANSITION = """\
[texture.sand]
prompt = "sand"

[texture.water]
prompt = "water"

[terrain.shore]
terrains = ["@sand", "@water"]
layout = "blob"
transition = {{ prompt = "foam", strength = 0.5, steps = 2 }}

[terrain.shore4]
terrains = ["@sand", "@water"]
layout = "corner"
{extra}"""


def test_transition_sets_keep_the_seam_bound(make_project, one_torch_thread):
    manifest = TRANSITION.format(extra='transition = { prompt = "foam", steps = 4 }\n')
    root = make_project({"manifests/game.toml": manifest})
    # a project-wide default model paints the band
    cfg = root / "assetforge.toml"
    cfg.write_text(cfg.read_text().replace('seed_salt = "test"',
                                           'seed_salt = "test"\ndefault_model = "tiny"'))
    data = build_json(root)
    assert data["summary"]["failed"] == 0, data
    for name, lay in (("shore", "blob"), ("shore4", "corner")):
        tiles = layout.tiles_of(lay)
        images = read_tiles(set_path(root, name, ".png"), lay, 32, layout.DEFAULT_COLUMNS[lay])
        report = seams.check_set(images, tiles, lay)
        assert report.pairs == len(layout.allowed_pairs(tiles, lay))
        assert report.ok, report
    # the transition changed pixels (against the same set without it)
    plain = make_project({"manifests/game.toml": TRANSITION.replace(
        'transition = {{ prompt = "foam", strength = 0.5, steps = 2 }}\n', "").format(extra="")},
        name="plain")
    cfg = plain / "assetforge.toml"
    cfg.write_text(cfg.read_text().replace('seed_salt = "test"',
                                           'seed_salt = "test"\ndefault_model = "tiny"'))
    build_json(plain)
    assert set_path(plain, "shore", ".png").read_bytes() != set_path(root, "shore",
                                                                    ".png").read_bytes()
    # editing a terrain's prompt rebuilds it and the sets, nothing else
    m = root / "manifests" / "game.toml"
    m.write_text(m.read_text().replace('prompt = "water"', 'prompt = "deep water"'))
    again = build_json(root)
    assert statuses(again) == {"sand": "up-to-date", "water": "built", "shore": "built",
                               "shore4": "built"}, again
    assert build_json(root)["summary"]["built"] == 0
