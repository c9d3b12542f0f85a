"""``assetforge repair``: a damaged build database kept beside, and new records from the disk.

Nothing in the database is needed to know what was built: every output PNG carries its recipe
and recipe hash (``embedded.py``), and the output cache (``ObjectStore``) keeps earlier outputs
with their recipe refs. So repair moves the damaged file (and its ``-wal``/``-shm``) aside as
``<name>.damaged-<time>``, creates a new database, and

* records every output whose file proves its recipe as ``adopted`` (as a fresh clone does),
  so the next build generates none of them;
* gives every cached object a recipe ref it lacks (read from the object's own recipe chunk),
  so a stale job whose recipe was built before is restored, not generated.

Build history (failed attempts, timings, verifications) lives only in the damaged file.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import Problem, UserError
from .project import Project
from .records import SQLITE_HEADER, diagnose


@dataclass
class RepairReport:
    damage: str | None  # what was wrong (None: the database was sound)
    repaired: bool = False
    moved: list[Path] = field(default_factory=list)  # the damaged files, where they are now
    adopted: int = 0  # outputs recorded from their embedded recipes
    stale: int = 0  # of those, outputs of an older recipe (the next build rebuilds them)
    unproven: int = 0  # outputs on disk without a readable recipe (replaced by the next build)
    missing: int = 0  # jobs with no output on disk
    refs: int = 0  # recipe refs the output cache regained

    def as_dict(self) -> dict[str, Any]:
        return {"damage": self.damage, "repaired": self.repaired,
                "moved": [str(p) for p in self.moved], "adopted": self.adopted,
                "stale": self.stale, "unproven": self.unproven, "missing": self.missing,
                "cache_refs_restored": self.refs}


def integrity(db: Path) -> str | None:
    """What a full read of the database finds wrong (``diagnose`` plus SQLite's
    ``quick_check`` of every page), or None. Reads the whole file: for ``repair``, not for
    every command."""
    what = diagnose(db)
    if what is not None or not db.is_file() or db.stat().st_size == 0:
        return what
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return f"damaged ({e})"
    return None if rows == ["ok"] else "damaged pages (" + "; ".join(rows) + ")"


# A file at the database path with one of these names was meant as the database: one that
# was overwritten (no SQLite header any more) is still ours to keep aside.
DB_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")


def not_ours(db: Path) -> str | None:
    """Why ``repair`` may not rename what is at ``db``, or None: only a database (an SQLite
    header, or a write-ahead log beside it) or a file named as one (``*.db``…) is moved aside,
    never a file AssetForge did not write."""
    if not os.path.lexists(db) or db.suffix.lower() in DB_SUFFIXES:
        return None
    if any(os.path.lexists(db.with_name(db.name + s)) for s in ("-wal", "-shm")):
        return None
    try:
        with open(db, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError:
        head = b""
    if head == SQLITE_HEADER or (db.is_file() and not head):
        return None
    return (f"{db.name} is not a database and not named as one (*.db): repair renames only "
            "a database, never a file AssetForge did not write; move it yourself, or point "
            "database at a new file")


def move_aside(db: Path, now: datetime | None = None) -> list[Path]:
    """Rename ``db`` and its ``-wal``/``-shm`` to ``<db>.damaged-<UTC time>[-wal|-shm]``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = db.with_name(f"{db.name}.damaged-{stamp}")
    n = 1
    while os.path.lexists(target):
        n += 1
        target = db.with_name(f"{db.name}.damaged-{stamp}-{n}")
    moved = []
    for suffix in ("", "-wal", "-shm"):
        src = db.with_name(db.name + suffix)
        if os.path.lexists(src):
            dst = target.with_name(target.name + suffix)
            os.replace(src, dst)
            moved.append(dst)
    return moved


def relink_cache(project: Project) -> int:
    """Give each cached output the recipe ref it lacks, from the recipe inside it.

    Only a local cache: a remote one (``cache_dir = "s3://…"``) gets each ref with its upload,
    and reading every object back to relink it would download the whole cache."""
    from .embedded import read_embedded
    from .stores import open_store

    store = open_store(project)
    if store.remote:
        return 0
    added = 0
    for obj in store.objects():
        found = read_embedded(obj.path)
        if found is None:
            continue
        try:
            if store.ref(found.recipe_hash) is None:
                store.set_ref(found.recipe_hash, obj.hash)
                added += 1
        except (OSError, ValueError):
            continue  # a read-only shared cache, or a hash not of our form: nothing to add
    return added


def repair(project: Project, plugins: Any = None, *, force: bool = False) -> RepairReport:
    """Repair ``project``'s database (the caller holds the project lock). A sound database
    is left alone unless ``force``. Manifests are validated first: a manifest error raises
    ``UserError`` with everything as it was."""
    from .adopt import adopt
    from .db import Store
    from .manifest import load_specs
    from .plan import make_plan
    from .plugins import load_plugins

    db = project.database
    report = RepairReport(integrity(db))
    if report.damage is None and not force:
        return report
    why = not_ours(db)
    if why:
        raise UserError([Problem(project.where("project", "database"), "project.database",
                                 why)])
    plugins = plugins or load_plugins(project)
    specs = load_specs(project, plugins)
    project.close_file_hashes()  # its connection would follow the renamed file
    report.moved = move_aside(db)
    store = Store(db)
    try:
        plan = make_plan(project, plugins, specs, restore=False)
        jobs = [jp for jp in plan.jobs() if jp.status != "error"]
        proven = [jp for jp in jobs if jp.embedded is not None]
        report.stale = sum(1 for jp in proven if jp.status != "up-to-date")
        report.unproven = sum(1 for jp in jobs if jp.embedded is None
                              and (project.output_dir / jp.job.output).is_file())
        report.missing = sum(1 for jp in jobs if not (project.output_dir / jp.job.output)
                             .is_file())
        report.adopted = adopt(project, store, proven)
        report.refs = relink_cache(project)
    finally:
        store.close()
    report.repaired = True
    return report
