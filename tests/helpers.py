"""Test helpers: run the CLI in-process, snapshot a project's outputs and records."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from assetforge.cli import cli


def run_cli(root: Path, *args: str) -> Result:
    """Run ``assetforge --project ROOT ARGS``; exceptions propagate (a traceback is a bug)."""
    runner = CliRunner()
    return runner.invoke(cli, ["--project", str(root), *args], catch_exceptions=False)


def build_json(root: Path, *args: str) -> dict[str, Any]:
    res = run_cli(root, "build", "--json", *args)
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout)


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file the build writes: outputs and the state folder."""
    out = {}
    for folder in ("assets", ".assetforge"):
        base = root / folder
        if base.exists():
            for p in sorted(base.rglob("*")):
                if p.is_file() and p.name not in ("manifest-cache.json", "plan-cache.bin", "lock"):
                    out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def generation_count(root: Path) -> int:
    import sqlite3

    db = root / ".assetforge" / "assetforge.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM generations WHERE status='ok'").fetchone()[0]


def unvalidated_specs(root: Path, manifest: str) -> dict[str, Any]:
    """AssetSpecs of ``manifest`` (written to manifests/game.toml), built by the core's own
    spec builder (kind defaults merged as for a build), by id, *without* validation: for
    calling a plugin's hooks directly on values the core would reject."""
    import textwrap
    import tomllib

    from assetforge.interfaces import SourceFile
    from assetforge.manifest import kind_bases, make_spec
    from assetforge.plugins import load_plugins
    from assetforge.project import load_project

    project = load_project(root)
    kinds = load_plugins(project).asset_kinds()
    bases = kind_bases(kinds, project.config.get("kinds", {}))
    path = root / "manifests" / "game.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = textwrap.dedent(manifest)
    path.write_text(text)
    source = SourceFile(path, text)
    return {asset_id: make_spec(asset_id, kind, entry, source, bases)
            for kind, table in tomllib.loads(text).items() for asset_id, entry in table.items()}


DAMAGE = ["garbage", "truncated", "flipped", "empty"]


def damage_file(path: Path, damage: str) -> bytes:
    """Damage a cache file the way disks and crashes do (one of ``DAMAGE``); returns the
    bytes it held."""
    import os

    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        raise ValueError(damage)
    return data
