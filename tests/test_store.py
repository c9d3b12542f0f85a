"""The SQLite record: Alembic migrations, WAL mode, the planning fast path agrees with the ORM."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

import assetforge
from assetforge.db import HEAD_SQL, Store, _engine, migrate, schema_sql
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


def test_a_new_database_gets_the_schema_the_migrations_make(tmp_path):
    """A new database is made by one script (migrations/head.sql), not by running the
    Alembic chain: both give the same tables, indexes and revision. After a new migration,
    rewrite the script from a migrated database with ``schema_sql``."""
    chained = tmp_path / "chained.db"
    engine = _engine(chained)
    migrate(engine)
    engine.dispose()
    with sqlite3.connect(chained) as c:
        expected = schema_sql(c)
    assert HEAD_SQL.read_text(encoding="utf-8") == expected, (
        "migrations/head.sql is not the migrated schema: write schema_sql() of a migrated "
        "database to it")
    fresh = tmp_path / "fresh" / "a.db"
    Store(fresh).close()
    with sqlite3.connect(fresh) as c:
        assert schema_sql(c) == expected
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert schema_revision(fresh) == HEAD_REVISION


def test_an_empty_database_file_is_created_and_one_in_use_is_migrated(tmp_path):
    """An empty file (touched by another tool or a killed first open) is given the schema;
    one whose tables exist at an older revision is migrated by Alembic, keeping its rows."""
    empty = tmp_path / "empty.db"
    empty.touch()
    Store(empty).close()
    assert schema_revision(empty) == HEAD_REVISION
    old = tmp_path / "old.db"
    engine = _engine(old)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(assetforge.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql("INSERT INTO builds (started_at, command, status) "
                             "VALUES ('t', 'build', 'ok')")
    engine.dispose()
    Store(old).close()
    assert schema_revision(old) == HEAD_REVISION
    with sqlite3.connect(old) as c:
        assert c.execute("SELECT command FROM builds").fetchall() == [("build",)]
        assert schema_sql(c) == HEAD_SQL.read_text(encoding="utf-8")
