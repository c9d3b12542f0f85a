"""Fast, import-light reads of the build record for planning (plain sqlite3, no ORM)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

# Must equal the newest Alembic revision; tests/test_store.py checks it does.
HEAD_REVISION = "0001"


@dataclass(frozen=True)
class LastBuild:
    """The newest successful record of a job: what its output on disk should be."""

    job_id: str
    recipe_hash: str
    output_path: str
    output_hash: str
    output_size: int
    output_mtime_ns: int
    record_id: int


def _connect(db: Path) -> sqlite3.Connection | None:
    if not db.exists():
        return None
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def schema_revision(db: Path) -> str | None:
    conn = _connect(db)
    if conn is None:
        return None
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


def latest_builds(db: Path) -> dict[str, LastBuild]:
    """job id → its newest ok/restored record. Empty for a database not created yet."""
    conn = _connect(db)
    if conn is None:
        return {}
    try:
        rows = conn.execute(
            "SELECT job_id, recipe_hash, output_path, output_hash, output_size, output_mtime_ns, id"
            " FROM generations WHERE id IN (SELECT MAX(id) FROM generations"
            " WHERE status IN ('ok', 'restored') GROUP BY job_id)").fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    return {r[0]: LastBuild(*r) for r in rows}


def recipe_json(db: Path, record_id: int) -> str | None:
    conn = _connect(db)
    if conn is None:
        return None
    try:
        row = conn.execute("SELECT recipe_json FROM generations WHERE id=?", (record_id,)).fetchone()
        return row[0] if row else None
    finally:
        conn.close()
