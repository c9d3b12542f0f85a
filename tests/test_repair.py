"""A damaged build database: every command names the damage and says to run `assetforge
repair`; repair keeps the damaged file beside, and rebuilds the records from the outputs so
the next build generates nothing."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import BASE_CONFIG
from helpers import run_cli

DB = Path(".assetforge") / "assetforge.db"


@pytest.fixture(scope="module")
def built(tmp_path_factory, one_torch_thread) -> Path:
    """One real build (two tiny textures) that each damage case copies."""
    root = tmp_path_factory.mktemp("repair") / "proj"
    (root / "manifests").mkdir(parents=True)
    (root / "assetforge.toml").write_text(BASE_CONFIG)
    (root / "manifests" / "a.toml").write_text(
        '[texture.floor]\nprompt = "stone floor"\n\n[texture.wall]\nprompt = "brick wall"\n')
    res = run_cli(root, "build")
    assert res.exit_code == 0, res.output
    return root


def _sql(db: Path, statement: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(statement)
    conn.close()


def _truncate(db: Path) -> None:
    with open(db, "r+b") as f:
        f.truncate(db.stat().st_size // 2)


def _garble(db: Path) -> None:
    data = bytearray(db.read_bytes())
    rnd = random.Random(7)
    page = int.from_bytes(data[16:18], "big")
    for i in range(page, len(data)):  # every page after the first (the schema) is noise
        data[i] = rnd.randrange(256)
    db.write_bytes(bytes(data))


def _directory(db: Path) -> None:
    db.unlink()
    db.mkdir()
    (db / "x").write_text("not a database")


# kind → (damage, what the error says); None: the database recovers by itself
DAMAGE = {
    "truncated": (_truncate, "truncated"),
    "garbled pages": (_garble, "damaged (database disk image is malformed)"),
    "not a database": (lambda db: db.write_bytes(b"just some text\n" * 300),
                       "not an SQLite database"),
    "table dropped": (lambda db: _sql(db, "DROP TABLE generations"), "table generations missing"),
    "newer revision": (lambda db: _sql(db, "UPDATE alembic_version SET version_num = '0999'"),
                       "written by a newer AssetForge (schema revision 0999; this AssetForge "
                       "knows revisions up to"),
    "directory": (_directory, "a folder is where the database file should be"),
    "empty file": (lambda db: db.write_bytes(b""), None),
    "garbage WAL": (lambda db: db.with_name(db.name + "-wal").write_bytes(
        random.Random(3).randbytes(8192)), None),
}


def _fingerprint(path: Path) -> str:
    if path.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in path.iterdir()))
    return path.read_bytes().hex() if path.exists() else "absent"


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damage_is_named_and_repaired(built, tmp_path, kind):
    root = tmp_path / "proj"
    shutil.copytree(built, root)
    db = root / DB
    damage, what = DAMAGE[kind]
    damage(db)
    damaged = _fingerprint(db)
    for args in (["status"], ["build"], ["verify"], ["build", "--json"]):
        res = run_cli(root, *args)
        assert "Traceback" not in res.output
        if what is None:  # SQLite recovers: a fresh database, or the WAL ignored
            assert res.exit_code == 0, (args, res.output)
            continue
        assert res.exit_code == 2, (args, res.output)
        assert f"error: {db}: build database unusable: {what}" in res.stderr, res.stderr
        assert "assetforge repair" in res.stderr
        assert _fingerprint(db) == damaged, "a command touched the damaged database"
        if "--json" in args:
            assert json.loads(res.stdout)["errors"][0]["file"] == str(db)
    if kind == "newer revision":
        assert "upgrade AssetForge" in res.stderr

    res = run_cli(root, "repair")
    assert res.exit_code == 0, res.output
    if what is None:
        assert "nothing to repair" in res.stdout
        return
    kept = sorted(p.name for p in db.parent.glob("assetforge.db.damaged-*"))
    assert kept and kept[0].startswith("assetforge.db.damaged-2"), kept
    assert _fingerprint(db.parent / kept[0]) == damaged  # kept as it was, for a post-mortem
    assert "recorded 2 output(s) from their embedded recipes" in res.stdout
    summary = json.loads(run_cli(root, "build", "--json").stdout)["summary"]
    assert summary["built"] == 0 and summary["restored"] == 0 and summary["up_to_date"] == 2
    assert run_cli(root, "verify").exit_code == 0


def test_repair_restores_output_cache_refs_and_stale_outputs_restore(built, tmp_path):
    """With the refs gone too, a reverted recipe is still restored from the cache, not
    generated: repair reads each cached object's recipe back into a ref."""
    root = tmp_path / "proj"
    shutil.copytree(built, root)
    manifest = root / "manifests" / "a.toml"
    original = manifest.read_text()
    first = (root / "assets" / "textures" / "floor.png").read_bytes()
    shutil.rmtree(root / ".assetforge" / "objects" / "refs")
    (root / DB).write_bytes(b"garbage" * 1000)
    manifest.write_text(original.replace("stone floor", "mossy floor"))
    (root / "assets" / "textures" / "floor.png").unlink()  # as if the edit had been built
    manifest.write_text(original)  # … and reverted
    res = run_cli(root, "repair")
    assert res.exit_code == 0, res.output
    # wall's ref comes back with its adoption; floor's (no output on disk) from the cache
    assert "1 missing; 1 output cache ref(s) restored" in res.stdout, res.stdout
    summary = json.loads(run_cli(root, "build", "--json").stdout)["summary"]
    assert summary == {**summary, "built": 0, "restored": 1, "up_to_date": 1}
    assert (root / "assets" / "textures" / "floor.png").read_bytes() == first


def test_repair_leaves_a_sound_database_and_refuses_broken_manifests(built, tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(built, root)
    db = root / DB
    before = _fingerprint(db)
    res = run_cli(root, "repair")
    assert res.exit_code == 0 and "nothing to repair" in res.stdout
    assert _fingerprint(db) == before
    db.write_bytes(b"x" * 4096)
    (root / "manifests" / "a.toml").write_text('[texture.floor]\nprompt = 5\n')
    res = run_cli(root, "repair")
    assert res.exit_code == 2
    assert f"{root / 'manifests' / 'a.toml'}:2: texture.floor.prompt" in res.stderr
    assert db.read_bytes() == b"x" * 4096 and not list(db.parent.glob("*.damaged-*"))
    assert os.listdir(root / "assets" / "textures") == os.listdir(built / "assets" / "textures")
