"""``[project]`` paths never touch a project file (issue 16): a database, output_dir, cache_dir
or plugins_dir that is, holds or lies inside the config, a manifest, a model's weights, an
input file or one another is refused at load (``assetforge.toml:LINE``, exit 2) with nothing
read or written; ``repair`` renames only a database."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from helpers import run_cli

CONFIG = """\
[project]
name = "paths"
seed_salt = "paths"
default_model = "tiny"
{extra}
[models.tiny]
source = "builtin:tiny-sd15"

[models.local]
source = "weights/model.safetensors"
"""
MANIFEST = '[texture.a]\nprompt = "stone"\n'


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _project(tmp_path: Path, extra: str) -> Path:
    root = tmp_path / "proj"
    (root / "manifests").mkdir(parents=True)
    (root / "weights").mkdir()
    (root / "plugins").mkdir()
    (root / "assetforge.toml").write_text(CONFIG.format(extra=extra))
    (root / "manifests" / "a.toml").write_text(MANIFEST)
    (root / "weights" / "model.safetensors").write_bytes(b"not really weights")
    (root / "plugins" / "mine.py").write_text("# a project plugin\n")
    return root


# (the [project] lines, the key reported, what the message says)
CASES = {
    "database is the config": ('database = "assetforge.toml"', "database",
                               "database is the config"),
    "database is a manifest": ('database = "manifests/a.toml"', "database",
                               "database is the manifest manifests/a.toml"),
    "database is a weights file": ('database = "weights/model.safetensors"', "database",
                                   "database is models.local.source"),
    "database inside a plugin folder": ('plugins_dir = "plugins"\ndatabase = "plugins/x.db"',
                                        "database", "database lies inside plugins_dir"),
    "database inside output_dir": ('database = "assets/build.db"', "database",
                                   "database lies inside output_dir"),
    "database inside cache_dir": ('cache_dir = "cache"\ndatabase = "cache/x.db"', "database",
                                  "database lies inside cache_dir"),
    "output_dir holds the config": ('output_dir = "."', "output_dir",
                                    "output_dir holds the config"),
    "output_dir holds a manifest": ('output_dir = "manifests"', "output_dir",
                                    "output_dir holds the manifest manifests/a.toml"),
    "output_dir holds weights": ('output_dir = "weights"', "output_dir",
                                 "output_dir holds models.local.source"),
    "output_dir is plugins_dir": ('plugins_dir = "plugins"\noutput_dir = "plugins"',
                                  "output_dir", "output_dir is plugins_dir"),
    "output_dir inside cache_dir": ('cache_dir = "cache"\noutput_dir = "cache/out"',
                                    "output_dir", "output_dir lies inside cache_dir"),
    "cache_dir holds the config": ('cache_dir = "."', "cache_dir",
                                   "cache_dir holds the config"),
    "cache_dir holds a manifest": ('cache_dir = "manifests"', "cache_dir",
                                   "cache_dir holds the manifest manifests/a.toml"),
    "cache_dir is a weights folder": ('cache_dir = "weights"', "cache_dir",
                                      "cache_dir holds models.local.source"),
    "cache_dir holds the database": ('cache_dir = ".assetforge"', "cache_dir",
                                     "cache_dir holds"),  # the database, and its own default
    "cache_dir holds plugins_dir": ('plugins_dir = "plugins/local"\ncache_dir = "plugins"',
                                    "cache_dir",
                                    "cache_dir holds plugins_dir"),
    "default cache_dir inside output_dir": ('database = "assets/state/x.db"', "database",
                                            "cache_dir (by default 'objects' beside the "
                                            "database) lies inside output_dir"),
    "plugins_dir holds the config": ('plugins_dir = "."', "plugins_dir",
                                     "plugins_dir holds the config"),
    "plugins_dir holds a manifest": ('plugins_dir = "manifests"', "plugins_dir",
                                     "plugins_dir holds the manifest manifests/a.toml"),
    "plugins_dir holds weights": ('plugins_dir = "weights"', "plugins_dir",
                                  "plugins_dir holds models.local.source"),
}


@pytest.mark.parametrize("case", CASES)
def test_conflicting_project_path_is_refused_before_anything_is_touched(tmp_path, case):
    lines, key, message = CASES[case]
    root = _project(tmp_path, lines)
    before = _tree(root)
    config_lines = (root / "assetforge.toml").read_text().splitlines()
    line = next(i for i, text in enumerate(config_lines, 1) if text.startswith(f"{key} ="))
    for command in (["status"], ["build"], ["repair"]):
        res = run_cli(root, *command)
        assert res.exit_code == 2, (command, res.output)
        errors = [e for e in res.stderr.splitlines() if e.startswith("error: ")]
        assert any(e.startswith(f"error: {root / 'assetforge.toml'}:{line}: project.{key}: ")
                   and message in e for e in errors), (command, errors)
        assert _tree(root) == before  # nothing written, moved or deleted
        assert not (root / ".assetforge").exists() and not (root / "assets").exists()


def test_separate_paths_are_accepted(tmp_path):
    root = _project(tmp_path, 'plugins_dir = "plugins"\ncache_dir = "cache"\n'
                              'database = "state/build.db"\noutput_dir = "out"')
    res = run_cli(root, "status")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("ref, key", [("assets/textures/old.png", "output_dir"),
                                      (".assetforge/objects/x.png", "cache_dir"),
                                      (".assetforge/assetforge.db", "database")])
def test_an_input_file_where_assetforge_writes_is_refused(tmp_path, ref, key):
    root = _project(tmp_path, "")
    (root / ref).parent.mkdir(parents=True, exist_ok=True)
    (root / ref).write_bytes(b"an input someone put there")
    (root / "manifests" / "a.toml").write_text(f'[texture.a]\nimage = "{ref}"\n')
    before = _tree(root)
    res = run_cli(root, "build")
    assert res.exit_code == 2, res.output
    assert "manifests/a.toml:2: texture.a.image: " in res.stderr
    assert key in res.stderr and "keep inputs elsewhere" in res.stderr
    # (like any manifest error: the lock and the parse cache, no database, no output)
    after = {k: v for k, v in _tree(root).items()
             if k not in (".assetforge/lock", ".assetforge/manifest-cache.json")}
    assert after == before


def test_repair_renames_only_a_database(tmp_path):
    root = _project(tmp_path, 'database = "state/notes.txt"')
    (root / "state").mkdir()
    (root / "state" / "notes.txt").write_text("my notes, not a database\n")
    res = run_cli(root, "status")
    assert res.exit_code == 2 and "repair" in res.stderr, res.output
    res = run_cli(root, "repair")
    assert res.exit_code == 2, res.output
    assert "project.database: notes.txt is not a database" in res.stderr
    assert (root / "state" / "notes.txt").read_text() == "my notes, not a database\n"
    assert not [p for p in (root / "state").iterdir() if "damaged" in p.name]


def test_repair_still_keeps_an_overwritten_database_aside(tmp_path):
    """A file named as a database (here the default ``.assetforge/assetforge.db``) that is
    garbage was a database: repair keeps it beside and starts a new one."""
    root = _project(tmp_path, "")
    db = root / ".assetforge" / "assetforge.db"
    db.parent.mkdir()
    db.write_bytes(b"overwritten " * 100)
    res = run_cli(root, "repair")
    assert res.exit_code == 0, res.output
    kept = list(db.parent.glob("assetforge.db.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"overwritten " * 100
    assert db.read_bytes().startswith(b"SQLite format 3\0")
