"""The Ray executor on a real local Ray instance (CPU actors), one instance for the module."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import BASE_CONFIG
from helpers import run_cli

from assetforge.engine import Builder
from assetforge.project import load_project

AF = str(Path(sys.executable).parent / "assetforge")
MANIFEST = "".join(f'[texture.t{i}]\nprompt = "stone {i}"\n\n' for i in range(5))
# Threads pinned: CPU results depend on torch's thread count; both executors use one.
CONFIG = BASE_CONFIG + "\n[generation]\nthreads = 1\n"
WITH_PLUGINS = CONFIG.replace('seed_salt = "test"\n',
                              'seed_salt = "test"\nplugins_dir = "plugins"\n')

# A project plugin that changes no bytes: the first job to reach it records its worker's PID
# and waits there (for the test to kill that worker, or for a file that never comes).
HOLD = '''
import os, time
from contextlib import contextmanager
from pathlib import Path
from assetforge.api import hookimpl

@contextmanager
def hold(ctx):
    pid_file = ctx.project.root / "held.pid"
    if ctx.job.job_id in {names!r}:
        try:
            fd = os.open(pid_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            fd = None
        if fd is not None:  # the first time only: a retry goes through
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            release = ctx.project.root / "release"
            while not release.exists():  # waits on a condition: the test kills us first
                time.sleep(0.05)
    yield

@hookimpl
def generation_context(ctx):
    return hold(ctx)
'''


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray for the module (starting one costs seconds); no login, no dashboard."""
    import ray

    os.environ["RAY_AUTH_MODE"] = "disabled"
    info = ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False,
                    logging_level="WARNING")
    yield info.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def local_root(tmp_path_factory, one_torch_thread) -> Path:
    """The project built by the local executor."""
    root = tmp_path_factory.mktemp("local") / "p"
    (root / "manifests").mkdir(parents=True)
    (root / "assetforge.toml").write_text(CONFIG)
    (root / "manifests" / "a.toml").write_text(MANIFEST)
    res = run_cli(root, "build")
    assert res.exit_code == 0, res.output
    return root


@pytest.fixture(scope="module")
def reference(local_root) -> dict[str, bytes]:
    return _outputs(local_root)


def _outputs(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "assets" / "textures").glob("*"))}


def _rows(root: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as db:
        return db.execute("SELECT job_id, status FROM generations ORDER BY job_id").fetchall()


def test_ray_build_is_byte_identical_to_local(make_project, ray_address, reference):
    root = make_project({"manifests/a.toml": MANIFEST}, config=CONFIG)
    res = run_cli(root, "build", "--executor", "ray", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)  # --json: one JSON object, nothing else on stdout
    assert data["summary"]["built"] == 5
    assert _outputs(root) == reference
    assert _rows(root) == [(f"t{i}", "ok") for i in range(5)]  # the driver recorded each once
    res = run_cli(root, "build", "--executor", "ray")
    assert res.exit_code == 0 and "0 built, 5 up to date, 0 failed" in res.output


def test_worker_killed_mid_job_is_retried_elsewhere(make_project, ray_address, reference):
    root = make_project({"manifests/a.toml": MANIFEST, "plugins/hold.py":
                         HOLD.format(names={"t2"})}, config=WITH_PLUGINS)
    killed: list[int] = []

    def kill_the_holder() -> None:
        pid_file = root / "held.pid"
        end = time.monotonic() + 300
        while not pid_file.exists() or not pid_file.read_text():  # a condition, polled
            assert time.monotonic() < end, "no worker reached the held job"
            time.sleep(0.05)
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_the_holder)
    killer.start()
    builder = Builder(load_project(root), executor="ray", executor_options={"actors": 2})
    result = builder.build()
    builder.close()
    killer.join()
    assert {a.id: a.status for a in result.assets} == {f"t{i}": "built" for i in range(5)}
    assert _outputs(root) == reference  # nothing lost
    assert _rows(root) == [(f"t{i}", "ok") for i in range(5)]  # nothing recorded twice
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)


def test_jobs_are_grouped_by_model_so_each_actor_loads_one(make_project, ray_address):
    from assetforge_ray.executor import RayExecutor

    config = CONFIG + '\n[models.other]\nsource = "builtin:tiny-sd15"\n'
    manifest = ('[texture.a1]\nprompt = "a"\nmodel = "tiny"\n[texture.b1]\nprompt = "b"\n'
                'model = "other"\n[texture.a2]\nprompt = "c"\nmodel = "tiny"\n'
                '[texture.b2]\nprompt = "d"\nmodel = "other"\n')
    root = make_project({"manifests/a.toml": manifest}, config=config)
    builder = Builder(load_project(root))
    jobs = builder.plan().jobs()
    session = RayExecutor().start(builder.project, {"actors": 2}, builder.render_result)
    try:
        results = {r.job_id: r for r in session.run(jobs)}
    finally:
        session.close()
    builder.close()
    assert sorted(results) == ["a1", "a2", "b1", "b2"]
    assert all(r.error is None and r.data for r in results.values())
    assert sorted(session.model_loads.values()) == [1, 1]  # one model per actor, loaded once


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_cancels_remote_work_and_leaves_no_partial_file(make_project, ray_address,
                                                               reference):
    root = make_project({"manifests/a.toml": MANIFEST, "plugins/hold.py":
                         HOLD.format(names={"t3"})}, config=WITH_PLUGINS)
    env = dict(os.environ, ASSETFORGE_PLUGINS="diffusers,hold,ray")
    proc = subprocess.Popen([AF, "build", "--executor", "ray", "--ray-address", ray_address],
                            cwd=root, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_default_sigint)
    try:
        end = time.monotonic() + 300
        while not (root / "held.pid").exists() or not (root / "held.pid").read_text():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "no worker reached the held job"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    held = int((root / "held.pid").read_text())
    with pytest.raises(ProcessLookupError):  # the worker holding a job was stopped
        os.kill(held, 0)
    outputs = sorted((root / "assets").rglob("*")) if (root / "assets").exists() else []
    assert not [p for p in outputs if p.name.endswith(".tmp")]  # no partial file
    pngs = {p.stem for p in outputs if p.suffix == ".png"}
    assert "t3" not in pngs
    # What was recorded was written (an output written just before the interrupt and not yet
    # recorded carries its recipe: the next build adopts it).
    assert {j for j, s in _rows(root) if s == "ok"} <= pngs
    (root / "release").touch()
    res = run_cli(root, "build")  # the rest, locally
    assert res.exit_code == 0, res.output
    assert _outputs(root) == reference


PROBE = """
import sys, runpy
sys.argv = ["assetforge", *{args!r}]
try:
    runpy.run_module("assetforge", run_name="__main__")
except SystemExit:
    pass
sys.stderr.write("RAY=" + str("ray" in sys.modules) + "\\n")
"""


@pytest.mark.parametrize("args", [["build", "--executor", "ray", "--help"],
                                  ["build", "--executor", "ray", "--dry-run"],
                                  ["build", "--executor", "ray"]])
def test_planning_no_op_builds_and_help_never_import_ray(args, local_root):
    # local_root is up to date: the last probe is a no-op build
    res = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], cwd=local_root,
                         capture_output=True, text=True, timeout=120)
    assert "RAY=False" in res.stderr, res.stderr


BROKEN = '''
import os
if os.getpid() != int(os.environ["ASSETFORGE_TEST_DRIVER_PID"]):  # only on the workers
    raise RuntimeError("this worker image lacks something")
'''


def test_workers_that_cannot_start_fail_their_jobs_clearly(make_project, ray_address,
                                                           monkeypatch):
    root = make_project({"manifests/a.toml": MANIFEST, "plugins/broken.py": BROKEN},
                        config=WITH_PLUGINS)
    monkeypatch.setenv("ASSETFORGE_TEST_DRIVER_PID", str(os.getpid()))
    builder = Builder(load_project(root), executor="ray",
                      executor_options={"actors": 1, "retries": 1})
    result = builder.build()
    builder.close()
    assert {a.status for a in result.assets} == {"failed"}  # finished, did not hang
    errors = [e for a in result.assets for e in a.errors]
    assert len(errors) == 5
    assert all("ray: " in e and "this worker image lacks something" in e for e in errors)
    assert {s for _j, s in _rows(root)} == {"failed"}


GRAPH = """\
[texture.wall]
prompt = "a brick wall"
maps = ["normal"]

[texture.wall_mossy]
prompt = "a mossy brick wall"
init_image = "@wall"
strength = 0.6
"""


def test_a_graph_builds_to_the_same_bytes_on_ray(make_project, ray_address, one_torch_thread):
    """An img2img dependent and a derived PBR map: Ray gives the local executor's bytes."""
    local = make_project({"manifests/a.toml": GRAPH}, config=CONFIG, name="graph_local")
    remote = make_project({"manifests/a.toml": GRAPH}, config=CONFIG, name="graph_ray")
    assert run_cli(local, "build").exit_code == 0
    res = run_cli(remote, "build", "--executor", "ray", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["summary"]["built"] == 2
    assert sorted(_outputs(remote)) == ["wall.png", "wall_mossy.png", "wall_normal.png"]
    assert _outputs(remote) == _outputs(local)
    res = run_cli(remote, "build", "--executor", "ray")
    assert res.exit_code == 0 and "0 built, 2 up to date, 0 failed" in res.output
