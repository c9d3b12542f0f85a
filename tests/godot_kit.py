"""Run GDScript in the real Godot 3 engine (Debian's ``godot3-server``, headless).

A test writes files into a folder, then ``run_godot3(folder, script)``: the folder becomes a
Godot project (a minimal ``project.godot`` unless one is there), the script runs as a
``SceneTree`` and prints lines starting with ``OUT `` and finally ``ASSETFORGE_DONE``. Script
errors make Godot 3 hang or exit 0, so the run is bounded by ``timeout`` and the sentinel is
required (DESIGN.md, "Terrain sets").
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

GODOT3 = "godot3-server"
SENTINEL = "ASSETFORGE_DONE"


def run_godot3(project: Path, script: str, *, timeout: float = 60.0) -> list[str]:
    """Run ``script`` (a GDScript ``extends SceneTree``) in ``project``; its ``OUT `` lines."""
    assert shutil.which(GODOT3), f"{GODOT3} is missing: run `make setup` (apt)"
    project.mkdir(parents=True, exist_ok=True)
    config = project / "project.godot"
    if not config.exists():
        config.write_text("config_version=4\n\n[application]\n\nconfig/name=\"check\"\n")
    (project / "_check.gd").write_text(script)
    env = dict(os.environ, LANG="en_US.UTF-8")
    proc = subprocess.run(["timeout", str(timeout), GODOT3, "--path", str(project),
                           "--script", "_check.gd"], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL)
    lines = proc.stdout.splitlines()
    if SENTINEL not in [line.strip() for line in lines]:
        raise AssertionError(f"Godot 3 did not finish the script (exit {proc.returncode})\n"
                             f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return [line[4:] for line in lines if line.startswith("OUT ")]
