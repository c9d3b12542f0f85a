"""Executors: the built-in local loop, executors from plugins, and how a build chooses one."""

from __future__ import annotations

import json
import sqlite3

from conftest import BASE_CONFIG
from helpers import run_cli

MANIFEST = """\
[texture.grass]
prompt = "grass"

[texture.rock]
prompt = "rock"

[texture.sand]
prompt = "sand"
"""
PLUGIN = '''
import json
from assetforge.api import hookimpl

class Reversed:
    name = "reversed"

    def start(self, project, options, render):
        log = project.root / "executor.log"
        log.write_text(log.read_text() + json.dumps(["start", options]) + "\\n"
                       if log.exists() else json.dumps(["start", options]) + "\\n")
        return Session(render, log)

class Session:
    def __init__(self, render, log):
        self.render, self.log = render, log

    def run(self, jobs):
        for jp in reversed(jobs):
            with self.log.open("a") as f:
                f.write(json.dumps(["job", jp.job.job_id]) + "\\n")
            yield self.render(jp)

    def close(self):
        with self.log.open("a") as f:
            f.write(json.dumps(["close"]) + "\\n")

@hookimpl
def register_executors():
    return [Reversed()]
'''


def _project(make_project, name: str, extra_config: str = ""):
    config = BASE_CONFIG.replace('seed_salt = "test"\n',
                                 'seed_salt = "test"\nplugins_dir = "plugins"\n')
    return make_project({"plugins/studio.py": PLUGIN, "manifests/a.toml": MANIFEST},
                        config=config, extra_config=extra_config, name=name)


def _log(root) -> list[list]:
    path = root / "executor.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _outputs(root) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "assets" / "textures").iterdir())}


def test_hook_register_executors(make_project, one_torch_thread):
    local = _project(make_project, "local")
    res = run_cli(local, "build", "--json")
    assert res.exit_code == 0, res.output
    assert _log(local) == []  # the default executor is the built-in loop

    other = _project(make_project, "other")
    res = run_cli(other, "build", "--executor", "reversed", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["summary"]["built"] == 3
    assert _log(other) == [["start", {}], ["job", "sand"], ["job", "rock"], ["job", "grass"],
                           ["close"]]
    assert _outputs(other) == _outputs(local)  # same bytes whichever executor rendered them
    with sqlite3.connect(other / ".assetforge" / "assetforge.db") as db:
        rows = db.execute("SELECT job_id, status, environment_json FROM generations "
                          "ORDER BY id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("sand", "ok"), ("rock", "ok"), ("grass", "ok")]
    assert all(json.loads(r[2])["device"] == "cpu" for r in rows)

    res = run_cli(other, "build", "--executor", "reversed")  # nothing stale: never started
    assert res.exit_code == 0 and len(_log(other)) == 5


def test_executor_table_in_config_chooses_and_configures(make_project, one_torch_thread):
    root = _project(make_project, "p", extra_config='[executor]\nname = "reversed"\n'
                                                     'workers = 3\n')
    res = run_cli(root, "build", "grass")
    assert res.exit_code == 0, res.output
    assert _log(root)[0] == ["start", {"workers": 3}]
    res = run_cli(root, "build", "--executor", "local", "rock")  # the option wins
    assert res.exit_code == 0, res.output
    assert len(_log(root)) == 3


def test_unknown_executor_is_a_usage_error(make_project):
    root = _project(make_project, "p")
    res = run_cli(root, "build", "--executor", "reversd")
    assert res.exit_code == 2
    assert "error: unknown executor 'reversd' (did you mean 'reversed'?); available: " \
        in res.output
    available = res.output.split("available: ")[1].strip().split(", ")
    assert {"local", "reversed"} <= set(available)  # and any an installed plugin adds
    assert not (root / ".assetforge" / "assetforge.db").exists()  # nothing recorded
    assert not (root / "assets").exists()

    bad = _project(make_project, "q", extra_config='[executor]\nname = "rya"\n')
    res = run_cli(bad, "build")
    assert res.exit_code == 2
    line = (bad / "assetforge.toml").read_text().splitlines().index('name = "rya"') + 1
    assert f"assetforge.toml:{line}: executor.name: unknown executor 'rya'" in res.output
    assert "Traceback" not in res.output
