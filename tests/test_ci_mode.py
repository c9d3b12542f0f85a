"""CI mode: ``build --check``, JSON, exit codes, failure handling, fresh clones, docs/ci.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from assetforge.cli import cli

REPO = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)

MANIFEST = """\
[texture.grass]
prompt = "grass"

[texture.rock]
prompt = "rock"
"""

FLAKY_PLUGIN = '''\
"""A plugin that fails some assets, the way a buggy plugin would."""
from assetforge import hookimpl


@hookimpl
def expand_spec(spec, project):
    """Fails while planning for assets tagged "breaks-plan"."""
    if "breaks-plan" in (spec.get("tags") or []):
        raise ValueError("no such palette")


@hookimpl
def generation_context(ctx):
    """Fails while generating for assets tagged "breaks-generation"."""
    if "breaks-generation" in (ctx.job.spec.get("tags") or []):
        raise RuntimeError("out of cheese")
'''


def run(root: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--project", str(root), *args], env=env)


def generations(root: Path) -> list[tuple[str, str, str | None, str | None]]:
    conn = sqlite3.connect(root / ".assetforge" / "assetforge.db")
    try:
        return conn.execute("SELECT asset_id, status, error_plugin, error FROM generations"
                            " ORDER BY id").fetchall()
    finally:
        conn.close()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_check_exits_1_when_stale_and_generates_nothing(make_project):
    root = make_project({"manifests/a.toml": MANIFEST})
    res = run(root, "build", "--check")
    assert res.exit_code == 1 and "new         grass  (never built)" in res.output
    assert not (root / "assets").exists()
    assert run(root, "build").exit_code == 0
    n = len(generations(root))

    res = run(root, "build", "--check")
    assert res.exit_code == 0, res.output
    assert "0 stale, 2 up to date" in res.output

    edit(root / "manifests" / "a.toml", '"grass"', '"lush grass"')
    res = run(root, "build", "--check")
    assert res.exit_code == 1
    assert "changed     grass  (recipe changed: prompt)" in res.output
    assert "rock" not in res.output  # up to date: not listed
    res = run(root, "build", "--check", "--json")
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert data["summary"]["stale"] == 1
    assert {a["id"]: a["status"] for a in data["assets"]} == {"grass": "changed",
                                                             "rock": "up-to-date"}
    assert len(generations(root)) == n  # --check generated nothing

    res = run(root, "status", "--json")
    assert res.exit_code == 0 and json.loads(res.output)["summary"] == {"changed": 1,
                                                                       "up-to-date": 1}

    edit(root / "manifests" / "a.toml", 'prompt = "rock"', 'prompt = "rock"\nsteps = "many"')
    res = run(root, "build", "--check")
    assert res.exit_code == 2
    assert "a.toml:6: texture.rock.steps: expected an integer, got a string" in res.output


def test_a_failing_asset_does_not_stop_the_others_and_is_recorded(make_project):
    from conftest import BASE_CONFIG

    config = BASE_CONFIG.replace('seed_salt = "test"\n',
                                 'seed_salt = "test"\nplugins_dir = "plugins"\n')
    manifest = """\
        [texture.cursed]
        prompt = "a"
        tags = ["breaks-generation"]

        [texture.unplannable]
        prompt = "b"
        tags = ["breaks-plan"]

        [texture.fine]
        prompt = "c"
        """
    root = make_project({"manifests/a.toml": manifest, "plugins/flaky.py": FLAKY_PLUGIN},
                        config=config)
    res = run(root, "build", "--fail-fast", "--json")
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert {a["id"]: a["status"] for a in data["assets"]} == {
        "cursed": "failed", "unplannable": "failed", "fine": "skipped"}
    assert not (root / "assets" / "textures" / "fine.png").exists()

    res = run(root, "build", "--json")
    assert res.exit_code == 1
    data = json.loads(res.output)
    assets = {a["id"]: a for a in data["assets"]}
    assert {i: a["status"] for i, a in assets.items()} == {
        "cursed": "failed", "unplannable": "failed", "fine": "built"}
    assert "out of cheese" in assets["cursed"]["errors"][0]
    assert "no such palette" in assets["unplannable"]["errors"][0]
    assert data["summary"]["failed"] == 2 and data["summary"]["built"] == 1
    failures = [r for r in generations(root) if r[1] == "failed"]
    assert {(a, p) for a, _s, p, _e in failures} == {("cursed", "flaky"),
                                                     ("unplannable", "flaky")}
    assert len(failures) == 4  # both runs: every failure is recorded


def test_fresh_clone_status_comes_from_the_outputs(make_project, tmp_path):
    origin = make_project({"manifests/a.toml": MANIFEST}, name="origin")
    assert run(origin, "build").exit_code == 0

    def clone(name: str) -> Path:
        dest = tmp_path / name
        dest.mkdir()
        for part in ("assetforge.toml", "manifests", "assets"):  # what git would hold
            src = origin / part
            (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / part)
        return dest

    fresh = clone("fresh")
    res = run(fresh, "status", "--json")
    assert res.exit_code == 0
    assert json.loads(res.output)["summary"] == {"up-to-date": 2}
    assert [r[:2] for r in generations(fresh)] == [("grass", "adopted"), ("rock", "adopted")]
    assert run(fresh, "build", "--check").exit_code == 0
    assert run(fresh, "verify").exit_code == 0
    edit(fresh / "manifests" / "a.toml", '"rock"', '"basalt"')
    res = run(fresh, "build", "--check")
    assert res.exit_code == 1 and "changed     rock  (recipe changed: prompt)" in res.output

    edited = clone("edited")  # an edit before the first command: the file's recipe says why
    edit(edited / "manifests" / "a.toml", '"grass"', '"moss"')
    (edited / "assets" / "textures" / "rock.png").write_bytes(
        (REPO / "tests" / "conftest.py").read_bytes())  # not an AssetForge output
    res = run(edited, "status")
    assert "changed     grass  (recipe changed: prompt (per the recipe in the file))" \
        in res.output
    assert "new         rock  (never built (output textures/rock.png has no recipe" \
        in res.output


def workflow_commands(markdown: str) -> tuple[list[str], list[str]]:
    """The ``assetforge`` run steps of docs/ci.md: (the full workflow, the PR gate)."""
    blocks = re.findall(r"```yaml\n(.*?)```", markdown, re.S)
    steps = [re.findall(r"^\s*run: (assetforge .*)$", b, re.M) for b in blocks]
    workflow = next(s for s, b in zip(steps, blocks, strict=True) if "actions/cache" in b)
    gate = next(s for s, b in zip(steps, blocks, strict=True) if "actions/cache" not in b)
    return workflow, gate


def test_the_documented_github_workflow_runs(make_project):
    workflow, gate = workflow_commands((REPO / "docs" / "ci.md").read_text())
    assert workflow == ["assetforge status", "assetforge build --json > build-report.json",
                        "assetforge build --check",
                        "assetforge verify --json > verify-report.json",
                        "assetforge licenses --json > licenses.json"]
    assert gate == ["assetforge build --check"]
    root = make_project({"manifests/a.toml": MANIFEST})
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"],
               ASSETFORGE_PLUGINS="diffusers")

    def ci_run(commands: list[str]) -> None:
        for cmd in commands:  # as the runner does: bash, in the checkout, stop at a failure
            proc = subprocess.run(["bash", "-eo", "pipefail", "-c", cmd], cwd=root, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)

    # First run: a cold cache. Everything is generated.
    ci_run(workflow)
    report = json.loads((root / "build-report.json").read_text())
    assert report["summary"]["built"] == 2
    assert json.loads((root / "verify-report.json").read_text())["ok"] is True

    # Next run: a new checkout (no outputs) with .assetforge restored from the cache.
    shutil.rmtree(root / "assets")
    for f in ("build-report.json", "verify-report.json", "licenses.json"):
        (root / f).unlink()
    ci_run(workflow)
    report = json.loads((root / "build-report.json").read_text())
    assert report["summary"] == {"built": 0, "restored": 2, "up_to_date": 0, "failed": 0,
                                 "skipped": 0}

    # The committed-outputs gate, on a clone without .assetforge.
    shutil.rmtree(root / ".assetforge")
    ci_run(gate)
