"""One build at a time, and builds killed with SIGKILL at several points."""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from assetforge.cli import cli
from assetforge.db import Store
from assetforge.lock import ProjectLock
from assetforge.project import load_project

AF = str(Path(sys.executable).with_name("assetforge"))
# The same plugins as this process loads: recipes made here and in the subprocesses must agree.
ENV = dict(os.environ)


def wait_until(pred: Callable[[], object], proc: subprocess.Popen | None = None,
               timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"process ended early with {proc.returncode}: {out}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {pred}")


def test_no_wait_fails_at_once_naming_the_holder(make_project):
    root = make_project({"manifests/a.toml": '[texture.grass]\nprompt = "grass"\n'})
    with ProjectLock(load_project(root), "watch"):
        for args in (["build", "--no-wait"], ["watch", "--no-wait"], ["gc", "--no-wait"]):
            res = CliRunner().invoke(cli, ["--project", str(root), *args])
            assert res.exit_code == 2, res.output
            assert f"'watch' (pid {os.getpid()}" in res.output
            assert "not waiting (--no-wait)" in res.output
        # Read-only commands do not need the lock.
        res = CliRunner().invoke(cli, ["--project", str(root), "build", "--check"])
        assert res.exit_code == 1 and "new         grass" in res.output
    assert not (root / "assets").exists()


def test_a_second_build_waits_for_the_first(make_project):
    root = make_project({"manifests/a.toml": "# no assets yet\n"})
    lock = ProjectLock(load_project(root), "build").acquire()
    try:
        proc = subprocess.Popen([AF, "build"], cwd=root, env=ENV, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
        line = lines.get(timeout=120)
        assert "holds .assetforge/lock: 'build'" in line and "waiting" in line
        time.sleep(0.5)
        assert proc.poll() is None  # still waiting while the lock is held
    finally:
        lock.release()
    assert proc.wait(timeout=120) == 0
    assert "0 built" in proc.stdout.read()


def test_recovery_after_a_holder_died(make_project):
    root = make_project({"manifests/a.toml": "# empty\n"})
    project = load_project(root)
    store = Store(project.database)
    build_id = store.start_build("build")  # a build row left 'running'
    store.close()
    tmp = root / "assets" / "textures" / ".grass.png.k2j3.tmp"
    tmp.parent.mkdir(parents=True)
    tmp.write_bytes(b"half a png")
    holder = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from assetforge.lock import ProjectLock
        from assetforge.project import load_project
        ProjectLock(load_project(Path({str(root)!r})), "build").acquire()
        os.kill(os.getpid(), signal.SIGKILL)
        """)
    assert subprocess.run([sys.executable, "-c", holder]).returncode == -signal.SIGKILL
    lock = ProjectLock(project, "build", wait=False).acquire()  # the kernel released it
    try:
        assert lock.recovered
        assert not tmp.exists()
        conn = sqlite3.connect(project.database)
        assert conn.execute("SELECT status FROM builds WHERE id=?",
                            (build_id,)).fetchone() == ("interrupted",)
        conn.close()
    finally:
        lock.release()
    again = ProjectLock(project, "build").acquire()
    assert not again.recovered  # a clean release needs no recovery
    again.release()


def _assert_consistent(root: Path) -> None:
    """No partial output, and a database that opens and passes integrity checks."""
    for png in (root / "assets").rglob("*.png"):
        with Image.open(png) as im:
            im.load()  # a torn file would not decode
    db = root / ".assetforge" / "assetforge.db"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    Store(db).close()  # opens (and migrates) cleanly


def test_sigkill_at_several_points_then_the_next_build_finishes(make_project):
    ids = [f"t{i}" for i in range(6)]
    root = make_project({"manifests/a.toml": "".join(
        f'[texture.{i}]\nprompt = "texture {i}"\n\n' for i in ids)})
    tex = root / "assets" / "textures"
    db = root / ".assetforge" / "assetforge.db"

    def outputs() -> int:
        return len(list(tex.glob("t*.png"))) if tex.is_dir() else 0

    def build_running() -> bool:
        if not db.exists():
            return False
        conn = sqlite3.connect(db, timeout=30)
        try:
            return bool(conn.execute("SELECT 1 FROM builds WHERE status='running'").fetchone())
        except sqlite3.OperationalError:  # tables not created yet
            return False
        finally:
            conn.close()

    rng = random.Random(4)
    kill_points: list[tuple[str, Callable[[], bool], float]] = [
        ("loading the model, before any output", build_running, 0.0),
        ("right after an output is written", lambda: outputs() >= 2, 0.0),
        ("at a random moment while generating", lambda: outputs() >= 4, rng.uniform(0, 0.2)),
    ]
    for _what, ready, delay in kill_points:
        proc = subprocess.Popen([AF, "build"], cwd=root, env=ENV, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_until(ready, proc)
            time.sleep(delay)
        finally:
            proc.kill()  # SIGKILL
            proc.wait()
        _assert_consistent(root)
    assert outputs() < len(ids)  # the kills did leave work to do

    res = CliRunner().invoke(cli, ["--project", str(root), "build", "--json"])
    assert res.exit_code == 0, res.output
    _assert_consistent(root)
    assert outputs() == len(ids)
    assert not [p for p in (root / "assets").rglob("*") if p.name.endswith(".tmp")]
    res = CliRunner().invoke(cli, ["--project", str(root), "verify"])
    assert res.exit_code == 0, res.output
    conn = sqlite3.connect(db)
    try:
        builds = [s for (s,) in conn.execute("SELECT status FROM builds WHERE command='build'"
                                               " ORDER BY id")]
        # A kill between an output's write and its record leaves a file whose embedded recipe
        # the next plan trusts ("adopted"), or whose object it restores ("restored").
        made = dict(conn.execute("SELECT asset_id, COUNT(*) FROM generations WHERE status IN"
                                 " ('ok', 'restored', 'adopted') GROUP BY asset_id").fetchall())
    finally:
        conn.close()
    assert builds == ["interrupted"] * len(kill_points) + ["finished"]
    assert made == dict.fromkeys(ids, 1)  # each output made (or recovered) exactly once


def _adopted(root: Path) -> int:
    db = root / ".assetforge" / "assetforge.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM generations WHERE status = 'adopted'"
                            ).fetchone()[0]


def test_status_adopts_only_under_the_lock(make_project, one_torch_thread):
    """`status` while another process holds the lock (a build recording outputs) writes no
    records: it could otherwise adopt an output the build is recording too."""
    import shutil

    root = make_project({"manifests/a.toml": '[texture.grass]\nprompt = "grass"\n'})
    assert CliRunner().invoke(cli, ["--project", str(root), "build"]).exit_code == 0
    shutil.rmtree(root / ".assetforge")  # a fresh clone: outputs committed, no records
    (root / ".assetforge").mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom assetforge.lock import ProjectLock\n"
         "from pathlib import Path\nfrom assetforge.project import load_project\n"
         "lock = ProjectLock(load_project(Path(sys.argv[1])), 'build').acquire()\n"
         "print('held', flush=True)\nsys.stdin.read()\nlock.release()\n", str(root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline() == "held\n"  # blocks until the lock is held
        res = CliRunner().invoke(cli, ["--project", str(root), "status"])
        assert res.exit_code == 0 and "up-to-date  grass" in res.output, res.output
        assert _adopted(root) == 0
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    res = CliRunner().invoke(cli, ["--project", str(root), "status"])
    assert res.exit_code == 0 and "up-to-date  grass" in res.output
    assert _adopted(root) == 1
