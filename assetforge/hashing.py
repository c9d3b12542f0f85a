"""Tagged content hashes, and a file-hash cache keyed by (path, size, mtime_ns, inode)."""

from __future__ import annotations

import hashlib
import json
import marshal
import math
import os
import sqlite3
from json.encoder import encode_basestring as _encode_str
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


# Built once: json.dumps() with options builds a new encoder per call, and planning encodes
# one recipe per job.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)
_encode = _CANONICAL.encode
# Encoded nested tables, keyed by their marshal bytes. Recipes of a project repeat the same
# generator, model and plugin tables thousands of times; marshal (C, ~1 µs) is an exact,
# type-preserving key (1, 1.0 and True differ, as their JSON does), so a hit is the same text
# the encoder would write. Anything marshal or JSON refuses takes the plain path.
_FRAGMENTS: dict[bytes, tuple[str, ...]] = {}
_FRAGMENTS_MAX = 4096
_KEYS: dict[str, str] = {}


def canonical_json(obj: Any) -> str:
    """The one serialisation hashed for cache keys: sorted keys, no spaces, UTF-8.

    Byte-identical to ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)``; a top-level table is assembled here so that its
    repeated nested tables are encoded once per process (tests/test_canonical_json.py).
    """
    if type(obj) is not dict:
        return _encode(obj)
    parts = []
    for k in sorted(obj):
        if type(k) is not str:  # JSON turns other keys into strings, after sorting them
            return _encode(obj)
        v = obj[k]
        t = type(v)
        if t is str:
            s = _encode_str(v)
        elif t is int:
            s = int.__repr__(v)
        elif t is float and math.isfinite(v):
            s = float.__repr__(v)
        elif t is dict or t is list:
            s = fragment(v)
        else:  # nan and infinity (refused), bools, None, other types
            s = _encode(v)
        ks = _KEYS.get(k)
        if ks is None:
            if len(_KEYS) >= _FRAGMENTS_MAX:
                _KEYS.clear()
            ks = _KEYS[k] = _encode_str(k) + ":"
        parts.append(ks + s)
    return "{" + ",".join(parts) + "}"


def fragment(value: dict | list) -> str:
    """``canonical_json(value)`` of a nested table or array, remembered by its marshal bytes."""
    return fragments(value)[0]


def fragments(*values: Any) -> tuple[str, ...]:
    """``canonical_json`` of each value, remembered together by their marshal bytes."""
    try:
        key = marshal.dumps(values, 2)
    except ValueError:  # not marshallable: the encoder says what JSON thinks of it
        return tuple(_encode(v) for v in values)
    texts = _FRAGMENTS.get(key)
    if texts is None:
        texts = tuple(_encode(v) for v in values)
        if len(_FRAGMENTS) >= _FRAGMENTS_MAX:
            _FRAGMENTS.clear()
        _FRAGMENTS[key] = texts
    return texts


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
        # path as given -> ((size, mtime_ns, inode), hash): planning asks for the same few
        # files (LoRAs, upscalers) once per asset; a stat answers, not resolve() + a query.
        self._seen: dict[str, tuple[tuple[int, int, int], str]] = {}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection | None:
        if self._conn is None and self.database.is_file():
            try:
                self._conn = sqlite3.connect(self.database, timeout=30)
            except sqlite3.Error:
                return None  # a damaged database: a cache miss; planning names the damage
        return self._conn

    def hash(self, path: Path) -> str:
        given = os.fspath(path)
        seen = self._seen.get(given)
        if seen is not None:
            try:
                st = os.stat(given)
            except OSError:
                pass  # gone: the full path below says so
            else:
                if seen[0] == (st.st_size, st.st_mtime_ns, st.st_ino):
                    return seen[1]
        path = Path(path).resolve()
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        digest = self._stored(key)
        if digest is None:
            digest = file_sha256(path)
            self._store(key, digest)
        self._seen[given] = ((st.st_size, st.st_mtime_ns, st.st_ino), digest)
        return digest

    def _stored(self, key: tuple[str, int, int, int]) -> str | None:
        db = self._db()
        if db is None:
            return None
        try:
            row = db.execute("SELECT hash FROM file_hashes"
                             " WHERE path=? AND size=? AND mtime_ns=? AND inode=?",
                             key).fetchone()
        except sqlite3.DatabaseError:  # table not migrated yet, or damage planning reports
            return None
        return row[0] if row else None

    def _store(self, key: tuple[str, int, int, int], digest: str) -> None:
        db = self._db()
        if db is None:
            return
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO file_hashes"
                           "(path, size, mtime_ns, inode, hash) VALUES (?,?,?,?,?)",
                           (*key, digest))
        except sqlite3.DatabaseError:
            pass
