"""The SQLite record: Alembic migrations, WAL mode, the planning fast path agrees with the ORM."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

import assetforge
from assetforge.db import Store
from assetforge.records import HEAD_REVISION, schema_revision


def test_head_revision_constant_matches_alembic():
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(assetforge.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_store_migrates_on_open_and_uses_wal(tmp_path):
    db = tmp_path / "state" / "a.db"
    assert schema_revision(db) is None
    store = Store(db)
    store.start_build("test")
    store.close()
    assert schema_revision(db) == HEAD_REVISION
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"builds", "generations", "file_hashes", "alembic_version"} <= tables
    Store(db).close()  # reopening an up-to-date database is a no-op
