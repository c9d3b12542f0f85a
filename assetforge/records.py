"""Fast, import-light reads of the build record for planning (plain sqlite3, no ORM)."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import NamedTuple

from .errors import Location, Problem, UserError

# Record statuses whose row describes an output file that exists (or existed) on disk.
OUTPUT_STATUSES = ("ok", "restored", "adopted")
# Must equal the newest Alembic revision; tests/test_store.py checks it does.
HEAD_REVISION = "0003"


SQLITE_HEADER = b"SQLite format 3\0"
TABLES = ("alembic_version", "builds", "generations", "verifications", "file_hashes")
REPAIR_HINT = ("run 'assetforge repair' to keep it beside as a .damaged file and rebuild the "
               "records from the outputs")

NEWER = "written by a newer AssetForge"
NEWER_HINT = ("upgrade AssetForge to use it, or run 'assetforge repair' to keep it beside and "
              "start new records from the outputs")


class DatabaseDamaged(UserError):
    """The build database cannot be used as it is: says what is wrong and what to run."""

    def __init__(self, path: Path, what: str, hint: str = REPAIR_HINT):
        self.path, self.what = path, what
        super().__init__([Problem(Location(path), None, f"build database unusable: {what}; "
                                                        f"{hint}")])


def known_revisions() -> list[str]:
    """Alembic revisions this AssetForge ships, oldest first (read from the versions folder)."""
    folder = Path(__file__).parent / "migrations" / "versions"
    found = []
    for path in sorted(folder.glob("*.py")):
        m = re.search(r'^revision\s*=\s*["\']([^"\']+)["\']', path.read_text("utf-8"), re.M)
        if m:
            found.append(m.group(1))
    return found


def diagnose(db: Path) -> str | None:
    """What is wrong with the database file, or None when it is usable (or not there yet).

    Cheap (a header read and one read-only query of the schema), so every command that opens
    the database runs it first: damage is named instead of surfacing as a traceback.
    """
    what = diagnose_file(db)
    if what is not None or not db.is_file() or db.stat().st_size == 0:
        return what
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as e:
        return f"cannot be opened ({e})"
    try:
        return _schema_problem(conn)
    finally:
        conn.close()


def diagnose_file(db: Path) -> str | None:
    """``diagnose``'s checks of the file itself (where it is, its header, its size)."""
    try:
        st = os.stat(db)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if db.is_dir():
        return "a folder is where the database file should be"
    if st.st_size == 0:
        return None  # an empty file is a database not yet created
    try:
        with open(db, "rb") as f:
            head = f.read(100)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if not head.startswith(SQLITE_HEADER):
        return "not an SQLite database (its first bytes are something else)"
    if len(head) < 100:
        return f"truncated to {st.st_size} bytes"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    if page_size < 512 or page_size & (page_size - 1):
        return "its header is damaged"
    if head[24:28] == head[92:96] and st.st_size < pages * page_size:
        return f"truncated: {st.st_size} bytes where its header says {pages * page_size}"
    return None


def _schema_problem(conn: sqlite3.Connection) -> str | None:
    """What is wrong with an open database's schema (tables, revision), or None."""
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None  # created, not migrated yet
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        if revision not in (None, HEAD_REVISION) and revision not in known_revisions():
            return (f"{NEWER} (schema revision {revision}; this AssetForge knows revisions up "
                    f"to {HEAD_REVISION}) and is never migrated down")
        missing = [t for t in TABLES if t not in tables
                   and not (t == "verifications" and revision == "0001")]  # added by 0002
        if missing:
            return f"table {', '.join(missing)} missing"
    except sqlite3.DatabaseError as e:
        return f"damaged ({e})"
    return None


def check_database(db: Path) -> None:
    """Raise ``DatabaseDamaged`` naming what is wrong, unless the database is usable."""
    what = diagnose(db)
    if what is not None:
        raise DatabaseDamaged(db, what, NEWER_HINT if what.startswith(NEWER) else REPAIR_HINT)


def damage_error(db: Path, error: BaseException) -> DatabaseDamaged:
    """A ``DatabaseDamaged`` for an SQLite error met while using ``db`` (damage found late:
    a garbled page the header check cannot see)."""
    return DatabaseDamaged(db, diagnose(db) or f"damaged ({error})")


class LastBuild(NamedTuple):
    """The newest successful record of a job: what its output on disk should be.

    A named tuple: planning makes one per job, far cheaper than a frozen dataclass.
    """

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
    """job id → its newest ok/restored/adopted record. Empty for a database not created yet.

    Planning starts here, so damage is named before anything reads records: the file checks
    of ``diagnose``, then its schema checks on the connection the query uses (one connection:
    each one costs a schema read).
    """
    if not db.exists():
        return {}
    conn = _connect(db) if diagnose_file(db) is None else None
    if conn is None:
        check_database(db)  # raises, naming the damage
        return {}
    try:
        what = _schema_problem(conn)
        if what is not None:
            raise DatabaseDamaged(db, what, NEWER_HINT if what.startswith(NEWER) else REPAIR_HINT)
        rows = conn.execute(
            "SELECT job_id, recipe_hash, output_path, output_hash, output_size, output_mtime_ns, id"
            " FROM generations WHERE id IN (SELECT MAX(id) FROM generations"
            f" WHERE status IN {OUTPUT_STATUSES} GROUP BY job_id)").fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return {}  # created, not migrated yet
        raise damage_error(db, e) from None
    except sqlite3.DatabaseError as e:
        raise damage_error(db, e) from None
    finally:
        conn.close()
    make = LastBuild._make
    return {r[0]: make(r) for r in rows}


def recipe_jsons(db: Path, record_ids: list[int]) -> dict[int, str]:
    """record id → recipe JSON for many records in one connection (changed jobs' old recipes)."""
    conn = _connect(db)
    if conn is None or not record_ids:
        return {}
    out: dict[int, str] = {}
    try:
        uniq = list(dict.fromkeys(record_ids))
        for i in range(0, len(uniq), 500):
            chunk = uniq[i:i + 500]
            marks = ",".join("?" * len(chunk))
            out.update(conn.execute(f"SELECT id, recipe_json FROM generations WHERE id IN"
                                    f" ({marks})", chunk).fetchall())
    finally:
        conn.close()
    return out


def recipe_outputs(db: Path, keys: list[str]) -> dict[str, str]:
    """recipe hash → the output hash its newest record produced, for the given recipe hashes.

    What a restore needs to know; the ``recipe_hash`` index makes it one cheap query.
    """
    conn = _connect(db)
    if conn is None or not keys:
        return {}
    out: dict[str, str] = {}
    try:
        uniq = list(dict.fromkeys(keys))
        for i in range(0, len(uniq), 500):
            chunk = uniq[i:i + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT recipe_hash, output_hash FROM generations WHERE recipe_hash IN ({marks})"
                f" AND status IN {OUTPUT_STATUSES} AND output_hash IS NOT NULL ORDER BY id",
                chunk).fetchall()
            out.update(rows)  # ascending id: the newest record wins
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    return out


def outputs_since(db: Path, since_iso: str) -> set[str]:
    """Output hashes of records created at or after ``since_iso`` (UTC ISO-8601)."""
    conn = _connect(db)
    if conn is None:
        return set()
    try:
        rows = conn.execute(
            "SELECT DISTINCT output_hash FROM generations WHERE created_at >= ?"
            " AND output_hash IS NOT NULL", (since_iso,)).fetchall()
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()
    return {r[0] for r in rows}


def origin_records(db: Path, output_hashes: list[str]) -> dict[str, tuple[int, str | None,
                                                                         str | None]]:
    """output hash → (id, device, environment JSON) of the newest generation that made it."""
    conn = _connect(db)
    if conn is None or not output_hashes:
        return {}
    out: dict[str, tuple[int, str | None, str | None]] = {}
    try:
        uniq = list(dict.fromkeys(output_hashes))
        for i in range(0, len(uniq), 500):
            chunk = uniq[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for h, rid, device, env in conn.execute(
                    f"SELECT output_hash, id, device, environment_json FROM generations"
                    f" WHERE status = 'ok' AND output_hash IN ({marks}) ORDER BY id", chunk):
                out[h] = (rid, device, env)
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    return out


def step_records(db: Path, job_ids: list[str]) -> dict[str, dict]:
    """job id → the metrics of its newest ok/restored record: a step-built asset's files
    (``step_files``: [path, hash, size, mtime_ns], main file first) and kept state
    (``step_state``)."""
    import json

    conn = _connect(db)
    if conn is None or not job_ids:
        return {}
    out: dict[str, dict] = {}
    try:
        for job_id in dict.fromkeys(job_ids):
            row = conn.execute(
                "SELECT metrics_json FROM generations WHERE job_id=? AND status IN"
                f" {OUTPUT_STATUSES} ORDER BY id DESC LIMIT 1", (job_id,)).fetchone()
            if row and row[0]:
                data = json.loads(row[0])
                if isinstance(data, dict) and "step_files" in data:
                    out[job_id] = data
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    return out
