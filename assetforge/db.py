"""The build record: SQLAlchemy 2 ORM models, opened with Alembic migrations applied, WAL mode.

History is appended, never overwritten: one ``Generation`` row per generated (or failed, or
restored) image. Planning reads through ``records.py`` with plain sqlite3 instead, because
importing the ORM costs more than a no-op build may take.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from .records import HEAD_REVISION, check_database, origin_records, schema_revision


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Base(DeclarativeBase):
    pass


class Build(Base):
    __tablename__ = "builds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[str] = mapped_column(String, default=utcnow)
    finished_at: Mapped[str | None] = mapped_column(String)
    command: Mapped[str] = mapped_column(String, default="build")
    status: Mapped[str] = mapped_column(String, default="running")
    summary_json: Mapped[str | None] = mapped_column(Text)


class Generation(Base):
    __tablename__ = "generations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    build_id: Mapped[int | None] = mapped_column(ForeignKey("builds.id"))
    created_at: Mapped[str] = mapped_column(String, default=utcnow)
    asset_id: Mapped[str] = mapped_column(String, index=True)
    job_id: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    view: Mapped[str | None] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)  # ok | failed | restored | adopted
    recipe_hash: Mapped[str] = mapped_column(String, index=True)
    recipe_json: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String)
    model_hash: Mapped[str] = mapped_column(String)
    plugin_versions_json: Mapped[str] = mapped_column(Text)
    output_path: Mapped[str | None] = mapped_column(String)
    output_hash: Mapped[str | None] = mapped_column(String, index=True)
    output_size: Mapped[int | None] = mapped_column(Integer)
    output_mtime_ns: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String)
    environment_json: Mapped[str | None] = mapped_column(Text)
    metrics_json: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    error_plugin: Mapped[str | None] = mapped_column(String)
    licenses_json: Mapped[str | None] = mapped_column(Text)  # [WeightLicense as a dict, …]

    __table_args__ = (Index("ix_generations_job", "job_id", "id"),)

    @property
    def recipe(self) -> dict[str, Any]:
        return json.loads(self.recipe_json)

    def as_dict(self) -> dict[str, Any]:
        out = {c.name: getattr(self, c.name) for c in self.__table__.columns}
        for key in ("recipe_json", "plugin_versions_json", "environment_json", "metrics_json",
                    "licenses_json"):
            raw = out.pop(key)
            out[key.removesuffix("_json")] = json.loads(raw) if raw else None
        return out


class Verification(Base):
    """One output checked by ``assetforge verify`` (grouped by a ``builds`` row)."""

    __tablename__ = "verifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    build_id: Mapped[int | None] = mapped_column(ForeignKey("builds.id"))
    created_at: Mapped[str] = mapped_column(String, default=utcnow)
    mode: Mapped[str] = mapped_column(String)  # hash | regenerate
    asset_id: Mapped[str] = mapped_column(String)
    job_id: Mapped[str] = mapped_column(String)
    record_id: Mapped[int | None] = mapped_column(Integer)
    output_path: Mapped[str | None] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    expected_hash: Mapped[str | None] = mapped_column(String)
    actual_hash: Mapped[str | None] = mapped_column(String)
    max_diff: Mapped[float | None] = mapped_column(Float)
    mean_diff: Mapped[float | None] = mapped_column(Float)
    environment_diff_json: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_verifications_job", "job_id", "id"),)


class FileHash(Base):
    __tablename__ = "file_hashes"
    path: Mapped[str] = mapped_column(String, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(Integer)
    inode: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String)


def _engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


HEAD_SQL = Path(__file__).parent / "migrations" / "head.sql"


def schema_sql(conn: sqlite3.Connection) -> str:
    """The schema of a database as one script: every table and index as SQLite stores it, and
    its Alembic revision (how ``migrations/head.sql`` is written and checked)."""
    rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
    revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    return "".join(f"{sql};\n" for (sql,) in rows) + (
        f"INSERT INTO alembic_version (version_num) VALUES ('{revision}');\n")


def create_fresh(path: Path) -> bool:
    """Give a new, empty database the schema the migrations make, by one script: Alembic's
    chain costs 10-20 ms, a fifth of a small first build (tests/test_store.py proves the two
    schemas identical). False when another writer got there first (then migrate as usual)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        # No sync of its own (each costs a few ms on a new file). A power loss before these
        # pages reach the disk can at worst leave a damaged database with no records in it,
        # which the next open names (``check_database``) and ``repair`` replaces; on the
        # outputs' file system the first build's syncfs makes it durable before any record.
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
            conn.execute("ROLLBACK")
            return False
        for statement in HEAD_SQL.read_text(encoding="utf-8").split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("COMMIT")
        return True
    finally:
        conn.close()


def migrate(engine: Engine) -> None:
    """Apply Alembic migrations up to head (recorded in ``alembic_version``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """The project's database, migrated on open."""

    def __init__(self, path: Path):
        check_database(path)  # damage is named (and repair suggested), never migrated over
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        fresh = not path.exists() or path.stat().st_size == 0
        if fresh and create_fresh(path):
            self.engine = _engine(path)
            return
        self.engine = _engine(path)
        if schema_revision(path) != HEAD_REVISION:
            migrate(self.engine)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def start_build(self, command: str) -> int:
        from sqlalchemy import insert

        with self.engine.begin() as conn:  # Core statements: the ORM unit of work costs ~1 ms
            return int(conn.execute(insert(Build).values(
                started_at=utcnow(), command=command, status="running")).inserted_primary_key[0])

    def finish_build(self, build_id: int, status: str, summary: dict[str, Any]) -> None:
        from sqlalchemy import update

        with self.engine.begin() as conn:
            conn.execute(update(Build).where(Build.id == build_id).values(
                finished_at=utcnow(), status=status, summary_json=json.dumps(summary)))

    def add(self, gen: Generation) -> Generation:
        with self.session() as s, s.begin():
            s.add(gen)
        return gen

    def add_all(self, rows: list[Any]) -> None:
        """Insert many rows in one transaction (restores, adoptions, verifications)."""
        if rows:
            with self.session() as s, s.begin():
                s.add_all(rows)

    def insert_generations(self, rows: list[dict[str, Any]]) -> None:
        """Insert many generation rows (column dicts) in one transaction, without ORM objects."""
        if rows:
            from sqlalchemy import insert

            with self.engine.begin() as conn:
                conn.execute(insert(Generation), rows)

    def interrupt_running(self) -> int:
        """Mark builds left 'running' by a process that died as 'interrupted'."""
        from sqlalchemy import update

        with self.session() as s, s.begin():
            res = s.execute(update(Build).where(Build.status == "running")
                            .values(status="interrupted", finished_at=utcnow()))
            return int(getattr(res, "rowcount", 0) or 0)

    def record(self, record_id: int) -> Generation | None:
        with self.session() as s:
            return s.get(Generation, record_id)

    def origin(self, output_hash: str) -> Generation | None:
        """The newest generation (not restore or adoption) that produced ``output_hash``."""
        found = origin_records(self.path, [output_hash]).get(output_hash)
        return self.record(found[0]) if found else None

    def history(self, asset_id: str) -> list[Generation]:
        with self.session() as s:
            q = select(Generation).where(Generation.asset_id == asset_id).order_by(Generation.id)
            return list(s.scalars(q))

    def close(self) -> None:
        self.engine.dispose()
