"""No command prints a traceback on a built project (issue 16): the demo (a copy, with one
asset rendering seed candidates) is built once, then every command runs with its usual
arguments — status, show and history of every id, sheet with and without ids, review in
every format, licenses, verify, gc --dry-run, plugins, pick on a candidate — and each exits
0, 1 or 2 without a traceback. Everything is written inside the temporary copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import build_json

from assetforge.cli import cli

DEMO = Path(__file__).resolve().parents[1] / "projects" / "demo"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A built copy of the demo whose tile ``chest`` also renders two seed candidates:
    (its root, every asset id)."""
    root = tmp_path_factory.mktemp("every-command") / "demo"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("assets", ".assetforge",
                                                              "__pycache__"))
    tiles = root / "manifests" / "tiles.toml"
    text = tiles.read_text()
    assert "[tile.chest]\n" in text
    tiles.write_text(text.replace("[tile.chest]\n", "[tile.chest]\ncandidates = 2\n", 1))
    first = build_json(root)
    assert first["summary"]["failed"] == 0, first
    return root, [a["id"] for a in first["assets"]]


def _run(root: Path, *args: str) -> Result:
    res = CliRunner().invoke(cli, ["--project", str(root), *args], catch_exceptions=True)
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        args, repr(res.exception))
    assert "Traceback" not in res.output, (args, res.output[-3000:])
    assert res.exit_code in (0, 1, 2), (args, res.exit_code, res.output[-2000:])
    return res


def test_every_command_on_the_built_demo(built, tmp_path):
    root, ids = built
    assert {"characters", "dungeon", "hero", "chest"} <= set(ids)  # atlas, tileset, views
    status = _run(root, "status", "--json")
    assert status.exit_code == 0
    assert {a["id"] for a in json.loads(status.stdout)["assets"]} == set(ids)
    _run(root, "status")
    for asset_id in ids:
        for command in ("show", "history"):
            assert _run(root, command, asset_id).exit_code == 0, (command, asset_id)
            res = _run(root, command, asset_id, "--json")
            assert res.exit_code == 0 and json.loads(res.stdout), (command, asset_id)
    for fmt in ("html", "md", "json"):
        res = _run(root, "review", "--format", fmt, "--out", str(tmp_path / f"review-{fmt}"))
        assert res.exit_code == 0, (fmt, res.output)
    for args in (["licenses"], ["licenses", "--json"], ["verify"], ["verify", "--json"],
                 ["gc", "--dry-run"], ["plugins"], ["plugins", "--json"],
                 ["build", "--check"], ["build", "--dry-run"], ["build", "--explain"]):
        _run(root, *args)
    tiles = root / "manifests" / "tiles.toml"
    before = tiles.read_text()
    res = _run(root, "pick", "chest", "1")
    assert res.exit_code == 0, res.output
    assert tiles.read_text() != before and "seed = " in tiles.read_text()
    tiles.write_text(before)  # the built project as it was, for the other tests


def test_sheet_shows_the_images_and_names_what_it_skipped(built, tmp_path):
    root, ids = built
    res = _run(root, "sheet", "--out", str(tmp_path / "all.png"))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "all.png").stat().st_size > 0
    # the atlas's JSON and the tileset's .tsx are outputs, not images: named, not drawn
    skipped = [ln for ln in res.stderr.splitlines() if ln.startswith("skipped (not an image)")]
    assert len(skipped) == 1 and "characters" in skipped[0] and "dungeon" in skipped[0]
    for asset_id in ids:
        res = _run(root, "sheet", asset_id, "--out", str(tmp_path / f"{asset_id}.png"))
        assert res.exit_code == 0, (asset_id, res.output)
    res = _run(root, "sheet", "no_such_asset", "--out", str(tmp_path / "x.png"))
    assert res.exit_code == 2 and "no_such_asset" in res.stderr
