"""Heavy libraries load only where generation happens: --help and no-op builds stay light."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import build_json

HEAVY = ("torch", "diffusers", "transformers", "peft", "spandrel", "ray", "s3fs", "fsspec")

PROBE = """
import sys, runpy
sys.argv = ["assetforge", *{args!r}]
try:
    runpy.run_module("assetforge", run_name="__main__")
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


def imported_heavy(args: list[str], cwd) -> tuple[list[str], str]:
    code = PROBE.format(args=args, heavy=HEAVY)
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                         timeout=120)
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("HEAVY=")][-1]
    found = [m for m in line.removeprefix("HEAVY=").split(",") if m]
    return found, res.stdout


def test_help_does_not_import_torch(tmp_path):
    heavy, out = imported_heavy(["--help"], tmp_path)
    assert "Usage" in out
    assert heavy == []


def test_noop_build_and_status_do_not_import_torch(make_project):
    root = make_project({"manifests/a.toml": '[texture.a]\nprompt = "a"\n'})
    build_json(root)
    heavy, out = imported_heavy(["build", "--json"], root)
    assert json.loads(out)["summary"]["up_to_date"] == 1
    assert heavy == []
    heavy, out = imported_heavy(["status"], root)
    assert "up-to-date" in out
    assert heavy == []
