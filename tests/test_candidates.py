"""Seed candidates: ``candidates = N`` renders N seeds into the cache (not the outputs), the
review shows them, ``pick`` writes the seed keeping the manifest's comments, and the next
build restores the chosen image without generating."""

from __future__ import annotations

import json
import sqlite3

import pytest
from helpers import generation_count, run_cli

from assetforge.objects import ObjectStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MANIFEST = """\
# Hero props -- keep this comment
[texture.chest]
prompt  =  "a wooden chest"      # spacing and this comment survive the pick
candidates = 2

[texture.key]   # untouched
prompt = "a brass key"
"""


def _candidate_rows(root):
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as db:
        return db.execute("SELECT job_id, seed, output_hash, output_path FROM generations "
                          "WHERE status = 'candidate' ORDER BY job_id").fetchall()


def test_candidates_pick_and_restore(make_project):
    root = make_project({"manifests/game.toml": MANIFEST})
    res = run_cli(root, "build", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["candidates"] == {"rendered": 2, "errors": []}
    rows = _candidate_rows(root)
    assert [r[0] for r in rows] == ["chest~candidate1", "chest~candidate2"]
    assert all(r[3] is None for r in rows)  # never written as an output
    assert sorted(p.name for p in (root / "assets" / "textures").iterdir()) == [
        "chest.png", "key.png"]
    store = ObjectStore(root / ".assetforge" / "objects")
    chest = (root / "assets" / "textures" / "chest.png").read_bytes()
    second = store.get(rows[1][2])
    assert second is not None and second != chest and store.get(rows[0][2]) != second

    # Already cached: a second build renders nothing.
    res = run_cli(root, "build", "--json")
    assert "candidates" not in json.loads(res.stdout)

    review = json.loads(run_cli(root, "review", "--format", "json").stdout)
    assert [(c["job"], c["index"], c["seed"], c["pick"]) for c in review["candidates"]] == [
        ("chest", 1, rows[0][1], "assetforge pick chest 1"),
        ("chest", 2, rows[1][1], "assetforge pick chest 2")]

    res = run_cli(root, "pick", "chest", "2")
    assert res.exit_code == 0, res.output
    text = (root / "manifests" / "game.toml").read_text()
    assert text == MANIFEST.replace("candidates = 2\n", f"candidates = 2\nseed = {rows[1][1]}\n")

    generated = generation_count(root)
    res = run_cli(root, "build", "--json")
    assert res.exit_code == 0, res.output
    statuses = {a["id"]: a["status"] for a in json.loads(res.stdout)["assets"]}
    assert statuses == {"chest": "restored", "key": "up-to-date"}
    assert generation_count(root) == generated  # nothing generated
    assert (root / "assets" / "textures" / "chest.png").read_bytes() == second

    res = run_cli(root, "pick", "chest", "3")
    assert res.exit_code == 2
    assert "game.toml:4: texture.chest.candidates: candidate 3 does not exist (1…2)" in res.output
    res = run_cli(root, "pick", "key", "1")
    assert res.exit_code == 2 and "has no candidates = N" in res.output
