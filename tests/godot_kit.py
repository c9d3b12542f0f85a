"""Running the real Godot 3 engine (Debian's godot3-server, headless) from tests.

Godot 3 loads text ``.tres`` files with no import step. A script error hangs it and a parse
error exits 0, so every run has a timeout and the script must print a sentinel line.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GODOT3 = "godot3-server"
SENTINEL = "ASSETFORGE_DONE"
PROJECT_GODOT = 'config_version=4\n\n[application]\n\nconfig/name="assetforge-check"\n'


def run_godot3(project: Path, script: str, *, timeout: float = 60.0) -> list[str]:
    """Run a SceneTree script in the Godot 3 project folder ``project`` (writes a minimal
    project.godot with config_version=4 if absent, writes the script as _check.gd, runs
    ``LANG=en_US.UTF-8 timeout <timeout> godot3-server --path project --script _check.gd``).
    The script prints lines starting with "OUT " and finally "ASSETFORGE_DONE"; raise
    AssertionError with the full stdout/stderr if the sentinel is missing (script errors hang
    or exit 0 in Godot 3) and return the "OUT " lines with the prefix removed."""
    project.mkdir(parents=True, exist_ok=True)
    if not (project / "project.godot").exists():
        (project / "project.godot").write_text(PROJECT_GODOT)
    (project / "_check.gd").write_text(script)
    env = dict(os.environ, LANG="en_US.UTF-8")
    proc = subprocess.run(
        ["timeout", str(timeout), GODOT3, "--path", str(project), "--script", "_check.gd"],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    lines = proc.stdout.splitlines()
    if SENTINEL not in (line.strip() for line in lines):
        raise AssertionError(f"godot3 did not finish the script (exit {proc.returncode})\n"
                             f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return [line[4:] for line in lines if line.startswith("OUT ")]
