"""Tagged content hashes, and a file-hash cache keyed by (path, size, mtime_ns, inode)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

ALGO = "sha256"
_CHUNK = 1 << 20


def tag(hexdigest: str) -> str:
    return f"{ALGO}:{hexdigest}"


def bytes_hash(data: bytes) -> str:
    return tag(hashlib.sha256(data).hexdigest())


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return tag(h.hexdigest())


def canonical_json(obj: Any) -> str:
    """The one serialisation hashed for cache keys: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def json_hash(obj: Any) -> str:
    return bytes_hash(canonical_json(obj).encode("utf-8"))


def untag(tagged: str) -> str:
    return tagged.split(":", 1)[1] if ":" in tagged else tagged


class FileHashCache:
    """sha256 of files, re-read only when (size, mtime_ns, inode) change.

    Stored in the project database's ``file_hashes`` table via plain sqlite3: this runs while
    planning, where neither the ORM import nor re-reading multi-GB weights is affordable.
    """

    def __init__(self, database: Path):
        self.database = database
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection | None:
        if self._conn is None and self.database.exists():
            self._conn = sqlite3.connect(self.database, timeout=30)
        return self._conn

    def hash(self, path: Path) -> str:
        path = Path(path).resolve()
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        db = self._db()
        if db is not None:
            try:
                row = db.execute(
                    "SELECT hash FROM file_hashes WHERE path=? AND size=? AND mtime_ns=? AND inode=?",
                    key).fetchone()
            except sqlite3.OperationalError:  # table not migrated yet
                row = None
            if row:
                return row[0]
        digest = file_sha256(path)
        if db is not None:
            try:
                with db:
                    db.execute("INSERT OR REPLACE INTO file_hashes(path, size, mtime_ns, inode, hash)"
                               " VALUES (?,?,?,?,?)", (*key, digest))
            except sqlite3.OperationalError:
                pass
        return digest
