"""The content-addressed output store: restores of reverted recipes, shared caches, gc."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from assetforge.cli import cli
from assetforge.engine import Builder, build
from assetforge.hashing import bytes_hash, untag
from assetforge.objects import ObjectStore, collect_garbage
from assetforge.project import load_project

MANIFEST = """\
[texture.grass]
prompt = "grass"

[texture.rock]
prompt = "rock"
"""
DAY = 86400.0


def set_prompt(root: Path, old: str, new: str) -> None:
    path = root / "manifests" / "a.toml"
    text = path.read_text()
    assert f'"{old}"' in text
    path.write_text(text.replace(f'"{old}"', f'"{new}"'))


def rows(root: Path, asset: str) -> list[tuple[str, str, str | None, str | None]]:
    conn = sqlite3.connect(root / ".assetforge" / "assetforge.db")
    try:
        return conn.execute("SELECT status, recipe_hash, output_hash, metrics_json FROM "
                            "generations WHERE asset_id=? ORDER BY id", (asset,)).fetchall()
    finally:
        conn.close()


def statuses(result) -> dict[str, str]:
    return {a.id: a.status for a in result.assets}


def test_store_names_objects_by_content_and_rejects_damage(tmp_path):
    store = ObjectStore(tmp_path / "store")
    digest = store.put(b"png bytes")
    assert digest == bytes_hash(b"png bytes")
    path = store.object_path(digest)
    assert path.name == untag(digest) and path.read_bytes() == b"png bytes"
    assert store.put(b"png bytes") == digest  # idempotent
    assert store.get(digest) == b"png bytes"
    key = bytes_hash(b"a recipe")
    assert store.ref(key) is None
    store.set_ref(key, digest)
    assert store.ref(key) == digest
    path.write_bytes(b"png bytez")  # bit rot, or a bad copy into a shared folder
    assert store.get(digest) is None and not store.has(digest)  # never served; removed
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


WRITER = """
import sys
from pathlib import Path
from assetforge.objects import ObjectStore
from assetforge.hashing import bytes_hash
store, n = ObjectStore(Path(sys.argv[1])), int(sys.argv[2])
for i in range(40):
    shared = f"shared object {i}".encode() * 200
    digest = store.put(shared)
    store.set_ref(bytes_hash(f"recipe {i}".encode()), digest)
    store.put(f"writer {n} object {i}".encode() * 200)
"""


def test_concurrent_writers_leave_only_complete_objects(tmp_path):
    root = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(n)])
             for n in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    store = ObjectStore(root)
    objects = list(store.objects())
    assert len(objects) == 40 + 4 * 40
    for obj in objects:
        assert bytes_hash(obj.path.read_bytes()) == obj.hash  # complete, never torn
    for i in range(40):
        assert store.ref(bytes_hash(f"recipe {i}".encode())) == bytes_hash(
            f"shared object {i}".encode() * 200)
    assert list((root / "tmp").iterdir()) == []


def test_reverted_recipe_is_restored_without_generating(make_project):
    root = make_project({"manifests/a.toml": MANIFEST})
    out = root / "assets" / "textures" / "grass.png"
    build(load_project(root))
    original = out.read_bytes()

    set_prompt(root, "grass", "dry grass")
    assert statuses(build(load_project(root)))["grass"] == "built"
    assert out.read_bytes() != original

    set_prompt(root, "dry grass", "grass")  # the revert
    builder = Builder(load_project(root))
    plan = builder.plan()
    grass = next(a for a in plan.assets if a.id == "grass")
    assert grass.status == "changed"
    assert grass.reason == "recipe changed: prompt; restorable from the output cache"
    result = builder.build()
    assert statuses(result) == {"grass": "restored", "rock": "up-to-date"}
    assert result.summary()["restored"] == 1 and result.summary()["built"] == 0
    assert builder.models.loads == 0  # no model loaded: nothing was generated
    assert out.read_bytes() == original
    history = rows(root, "grass")
    assert [r[0] for r in history] == ["ok", "ok", "restored"]
    assert history[2][1] == history[0][1]  # same recipe as the first generation
    assert json.loads(history[2][3])["restored_from"] == history[0][2] == bytes_hash(original)
    assert statuses(builder.build()) == {"grass": "up-to-date", "rock": "up-to-date"}

    out.unlink()  # a deleted output comes back from the store too
    grass = next(a for a in builder.plan().assets if a.id == "grass")
    assert (grass.status, grass.reason) == (
        "missing", "output textures/grass.png is missing; restorable from the output cache")
    result = builder.build()
    assert statuses(result)["grass"] == "restored" and out.read_bytes() == original
    assert builder.models.loads == 0
    builder.close()


def test_shared_cache_dir_serves_other_clones(make_project, tmp_path):
    shared = tmp_path / "team-share"
    a = make_project({"manifests/a.toml": MANIFEST}, name="a")
    runner = CliRunner()
    res = runner.invoke(cli, ["--project", str(a), "--cache-dir", str(shared), "build"])
    assert res.exit_code == 0, res.output
    assert not (a / ".assetforge" / "objects").exists()  # everything went to the share

    b = make_project({"manifests/a.toml": MANIFEST}, name="b")  # a clone without outputs
    res = runner.invoke(cli, ["--project", str(b), "--cache-dir", str(shared), "build",
                              "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {x["id"]: x["status"] for x in data["assets"]} == {"grass": "restored",
                                                             "rock": "restored"}
    assert data["summary"]["built"] == 0 and data["summary"]["restored"] == 2
    for name in ("grass", "rock"):
        rel = Path("assets") / "textures" / f"{name}.png"
        assert (b / rel).read_bytes() == (a / rel).read_bytes()
        assert [r[0] for r in rows(b, name)] == ["restored"]

    c = make_project({"manifests/a.toml": MANIFEST}, name="c")  # the environment variable
    res = runner.invoke(cli, ["--project", str(c), "build"],
                        env={"ASSETFORGE_CACHE_DIR": str(shared)})
    assert res.exit_code == 0, res.output
    assert "0 built, 2 restored" in res.output


def test_damaged_object_is_regenerated_not_restored(make_project):
    root = make_project({"manifests/a.toml": MANIFEST})
    out = root / "assets" / "textures" / "grass.png"
    build(load_project(root))
    original = out.read_bytes()
    set_prompt(root, "grass", "wet grass")
    build(load_project(root))
    store = ObjectStore(load_project(root).cache_dir)
    obj = store.object_path(bytes_hash(original))
    obj.write_bytes(original[:-20])  # truncated in the cache

    set_prompt(root, "wet grass", "grass")
    builder = Builder(load_project(root))
    result = builder.build()
    assert statuses(result)["grass"] == "built"  # fell back to generation
    assert builder.models.loads == 1
    assert out.read_bytes() == original  # deterministic: the same bytes again
    assert store.get(bytes_hash(original)) == original  # and the cache is repaired
    builder.close()


def test_gc_keeps_current_and_recent_objects_only(make_project):
    root = make_project({"manifests/a.toml": MANIFEST})
    project = load_project(root)
    build(project)
    out = root / "assets" / "textures" / "grass.png"
    v1 = bytes_hash(out.read_bytes())
    set_prompt(root, "grass", "grass v2")
    build(load_project(root))
    v2 = bytes_hash(out.read_bytes())
    set_prompt(root, "grass v2", "grass v3")
    build(load_project(root))
    v3 = bytes_hash(out.read_bytes())
    rock = bytes_hash((root / "assets" / "textures" / "rock.png").read_bytes())
    store = ObjectStore(project.cache_dir)
    foreign = store.put(b"another project's output")  # a shared store holds others' objects
    old_foreign = store.put(b"an output nobody used for long")
    now = time.time()
    for digest in (v1, v2, v3, rock, old_foreign):
        os.utime(store.object_path(digest), (now - 60 * DAY, now - 60 * DAY))

    builder = Builder(load_project(root))
    # Today: every record is recent, so only the long-unused foreign object goes.
    report = collect_garbage(builder, keep_days=30, dry_run=True)
    assert {o.hash for o in report.removed} == {old_foreign}

    # Forty days on: old recipes' outputs go, the current ones and recently used stay.
    later = now + 40 * DAY
    os.utime(store.object_path(foreign), (later - DAY, later - DAY))  # used yesterday
    report = collect_garbage(builder, keep_days=30, dry_run=True, now=later)
    assert {o.hash for o in report.removed} == {v1, v2, old_foreign}
    assert all(store.has(h) for h in (v1, v2, old_foreign))  # dry run: nothing removed
    report = collect_garbage(builder, keep_days=30, now=later)
    assert {o.hash for o in report.removed} == {v1, v2, old_foreign}
    assert report.refs_removed == 2  # the refs of v1's and v2's recipes
    assert not store.has(v1) and not store.has(v2)
    assert store.has(v3) and store.has(rock) and store.has(foreign)

    set_prompt(root, "grass v3", "grass")  # reverting to a collected recipe regenerates
    plan = Builder(load_project(root)).plan()
    assert next(a for a in plan.assets if a.id == "grass").status == "changed"

    res = CliRunner().invoke(cli, ["--project", str(root), "gc", "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["removed_count"] == 0


def test_cached_state_folder_restores_deleted_outputs(make_project):
    """A CI cache restores .assetforge/ (database and objects) but not the outputs."""
    root = make_project({"manifests/a.toml": MANIFEST})
    build(load_project(root))
    before = {p.name: p.read_bytes() for p in (root / "assets").rglob("*.png")}
    shutil.rmtree(root / "assets")
    builder = Builder(load_project(root))
    result = builder.build()
    assert statuses(result) == {"grass": "restored", "rock": "restored"}
    assert builder.models.loads == 0
    assert {p.name: p.read_bytes() for p in (root / "assets").rglob("*.png")} == before
