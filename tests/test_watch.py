"""``assetforge watch``: real file events in a temporary project, real tiny-model generation.

Timing-robust on a loaded machine: every wait polls with a generous timeout, and assertions are
about what was generated (records), never about how fast.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from assetforge.engine import BuildResult
from assetforge.errors import UserError
from assetforge.project import load_project
from assetforge.watch import WatchCallbacks, Watcher, WatchSet, glob_regex

AF = str(Path(sys.executable).with_name("assetforge"))

PALETTE_PLUGIN = '''\
"""Test palette packs: ``palette = "NAME"`` appends palettes/NAME.txt to an asset's prompt."""
from assetforge import hookimpl
from assetforge.interfaces import ManifestKey, RecipePart

__version__ = "1"


def _file(project, name):
    return project.root / "palettes" / f"{name}.txt"


@hookimpl
def register_manifest_keys():
    """The ``palette`` key."""
    return [ManifestKey("palette", (str,), "a palette pack in palettes/")]


@hookimpl
def expand_spec(spec, project):
    """Append the palette text to the prompt."""
    if spec.get("palette"):
        text = _file(project, spec.get("palette")).read_text().strip()
        spec.fields["prompt"] = f"{spec.fields['prompt']}, {text}"


@hookimpl
def recipe_parts(job, project):
    """The palette file's content hash: editing it changes its assets' recipes."""
    if job.spec.get("palette"):
        path = _file(project, job.spec.get("palette"))
        return RecipePart("palettes", __version__, {"hash": project.hash_file(path)})


@hookimpl
def watch_paths(project):
    """Palette packs live in palettes/."""
    return [project.root / "palettes"]
'''

MANIFEST = """\
[texture.a]
prompt = "moss"
palette = "pixel"

[texture.b]
prompt = "sand"
palette = "paint"

[texture.c]
prompt = "stone"
"""


def wait_until(pred: Callable[[], object], timeout: float = 240.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or pred}")


def save_like_an_editor(path: Path, text: str) -> None:
    """A save storm: backup copy, temp file written in pieces, rename over, chmod."""
    tmp = path.with_name(f".{path.name}.swp")
    backup = path.with_name(path.name + "~")
    shutil.copy(path, backup)
    with open(tmp, "w") as f:
        f.write(text[: len(text) // 2])
        f.flush()
        f.write(text[len(text) // 2:])
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    os.chmod(path, 0o644)
    backup.unlink()


def ok_records(root: Path) -> dict[str, int]:
    conn = sqlite3.connect(root / ".assetforge" / "assetforge.db")
    try:
        return dict(conn.execute("SELECT asset_id, COUNT(*) FROM generations WHERE status='ok'"
                                 " GROUP BY asset_id").fetchall())
    finally:
        conn.close()


def built(result: BuildResult) -> set[str]:
    return {a.id for a in result.assets if a.status == "built"}


class Running:
    """A Watcher on a background thread, with everything it reported."""

    def __init__(self, root: Path, on_progress: Callable[[int, int, str], None] | None = None):
        self.results: list[BuildResult] = []
        self.errors: list[UserError] = []
        self.batches: list[list[Path]] = []
        self.n_errors = 0  # errors expected so far (a broken save)
        cb = WatchCallbacks(on_result=self.results.append, on_error=self.errors.append,
                            on_change=self.batches.append, progress=on_progress)
        self.watcher = Watcher(load_project(root), debounce=0.2, callbacks=cb)
        self.crash: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as e:  # surfaced by next_result
            self.crash = e

    def next_result(self, since: int, pred: Callable[[BuildResult], bool] = lambda r: True,
                    what: str = "a rebuild") -> BuildResult:
        def seen() -> bool:
            if self.crash is not None:
                raise AssertionError(f"the watcher crashed: {self.crash!r}")
            assert not self.errors[self.n_errors:], [str(e) for e in self.errors]
            return any(pred(r) for r in self.results[since:])

        wait_until(seen, what=what)
        return next(r for r in self.results[since:] if pred(r))

    def stop(self) -> None:
        self.watcher.stop()
        self.thread.join(timeout=120)
        assert not self.thread.is_alive()


def _palette_project(make_project) -> Path:
    from conftest import BASE_CONFIG

    config = BASE_CONFIG.replace('seed_salt = "test"\n',
                                 'seed_salt = "test"\nplugins_dir = "plugins"\n')
    return make_project({"manifests/assets.toml": MANIFEST, "plugins/palettes.py": PALETTE_PLUGIN,
                         "palettes/pixel.txt": "pixel art", "palettes/paint.txt": "oil paint"},
                        config=config)


def test_glob_regex_matches_like_path_glob():
    rx = glob_regex("manifests/**/*.toml")
    assert rx.match("manifests/a.toml") and rx.match("manifests/x/y/a.toml")
    assert not rx.match("manifests/a.toml~") and not rx.match("other/a.toml")
    assert not rx.match("manifests/.a.toml.swp")
    assert glob_regex("*.toml").match("a.toml") and not glob_regex("*.toml").match("m/a.toml")


def test_watch_set_ignores_outputs_and_state(make_project):
    root = _palette_project(make_project)
    from assetforge.plugins import load_plugins

    project = load_project(root)
    extra = [p for _n, ps in load_plugins(project).call_each("watch_paths", project=project)
             for p in ps]
    ws = WatchSet.of(project, extra)
    assert ws.relevant(str(root / "manifests" / "assets.toml"))
    assert ws.relevant(str(root / "manifests" / "new" / "more.toml"))  # files created later
    assert ws.relevant(str(root / "assetforge.toml"))
    assert ws.relevant(str(root / "palettes" / "pixel.txt"))  # from the watch_paths hook
    assert ws.relevant(str(root / "plugins" / "palettes.py"))
    assert not ws.relevant(str(root / "assets" / "textures" / "a.png"))
    assert not ws.relevant(str(root / ".assetforge" / "assetforge.db"))
    assert not ws.relevant(str(root / "manifests" / ".assets.toml.swp"))
    assert ws.reloads(root / "assetforge.toml") and ws.reloads(root / "plugins" / "palettes.py")
    assert not ws.reloads(root / "manifests" / "assets.toml")
    assert (root / "palettes").resolve() in ws.schedules


def test_watch_rebuilds_what_each_change_affects(make_project):
    root = _palette_project(make_project)
    manifest = root / "manifests" / "assets.toml"
    outputs = {a: root / "assets" / "textures" / f"{a}.png" for a in "abc"}
    saved_during_build: list[str] = []

    def edit_during_build(done: int, total: int, label: str) -> None:
        # Runs on the build worker, before a job generates: a user saving mid-build.
        if label == "a" and armed and not saved_during_build:
            text = manifest.read_text()
            save_like_an_editor(manifest, text.replace('"sand"', '"dune sand"'))
            save_like_an_editor(manifest, manifest.read_text().replace('"cobble"', '"slate"'))
            saved_during_build.append(label)

    armed = False
    w = Running(root, on_progress=edit_during_build)
    try:
        first = w.next_result(0, what="the initial build")
        assert built(first) == {"a", "b", "c"}
        model = w.watcher.builder.models
        assert model.loads == 1
        pipeline = next(iter(model._loaded.values()))

        # 1. One editor save (several events) of one asset: one regeneration of that asset.
        n = len(w.results)
        save_like_an_editor(manifest, manifest.read_text().replace('"stone"', '"cobble"'))
        r = w.next_result(n, lambda r: bool(built(r)), "the save to be built")
        assert built(r) == {"c"}
        time.sleep(1.0)  # any stray second rebuild would show up here
        assert all(not built(x) for x in w.results[n:] if x is not r)
        assert ok_records(root) == {"a": 1, "b": 1, "c": 2}

        # 2. A palette pack (a watch_paths hook path): only the asset using it is rebuilt.
        n = len(w.results)
        (root / "palettes" / "pixel.txt").write_text("pixel art, 16 colours")
        r = w.next_result(n, lambda r: bool(built(r)), "the palette change to be built")
        assert built(r) == {"a"}
        assert {a.id: a.status for a in r.assets}["b"] == "up-to-date"

        # 3. A broken save: the same error as `build`, nothing touched, the watcher goes on.
        before = {a: p.read_bytes() for a, p in outputs.items()}
        good = manifest.read_text()
        n_err = len(w.errors)
        save_like_an_editor(manifest, good.replace('prompt = "moss"', 'prompt = moss'))
        wait_until(lambda: len(w.errors) > n_err, what="the error report")
        w.n_errors = len(w.errors)
        msg = str(w.errors[-1])
        assert "assets.toml:" in msg and "invalid TOML" in msg
        assert {a: p.read_bytes() for a, p in outputs.items()} == before
        n = len(w.results)
        save_like_an_editor(manifest, good)
        r = w.next_result(n, what="the fixed save")
        assert not built(r) and not r.failed

        # 4. Saves that arrive during a build are handled after it, without losing any.
        n = len(w.results)
        armed = True
        (root / "palettes" / "pixel.txt").write_text("pixel art, 8 colours")
        w.next_result(n, lambda r: "a" in built(r), "the build of a")
        wait_until(lambda: ok_records(root) == {"a": 3, "b": 2, "c": 3},
                   what="b and c to be rebuilt after the build that was running")
        time.sleep(1.0)
        assert saved_during_build == ["a"]
        assert ok_records(root) == {"a": 3, "b": 2, "c": 3}
        rebuilt_later = set().union(*(built(x) for x in w.results[n:]))
        assert rebuilt_later == {"a", "b", "c"}

        # 5. assetforge.toml: re-plan everything, regenerate only what the recipes change,
        #    and keep the loaded model.
        cfg = root / "assetforge.toml"
        n = len(w.results)
        save_like_an_editor(cfg, cfg.read_text() + "\n# a comment changes no recipe\n")
        r = w.next_result(n, what="the re-plan after a comment")
        assert not built(r)
        n = len(w.results)
        text = cfg.read_text()
        assert "[kinds.texture]\nwidth = 64\nheight = 64\nsteps = 2\n" in text
        save_like_an_editor(cfg, text.replace("[kinds.texture]\nwidth = 64\nheight = 64\n"
                                              "steps = 2\n", "[kinds.texture]\nwidth = 64\n"
                                              "height = 64\nsteps = 3\n"))
        r = w.next_result(n, lambda r: bool(built(r)), "the rebuild after a config change")
        assert built(r) == {"a", "b", "c"}
        assert w.watcher.builder.project.kind_defaults("texture")["steps"] == 3
        assert model.loads == 1 and next(iter(model._loaded.values())) is pipeline
    finally:
        w.stop()
    assert w.watcher.builds >= 7


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_watch_ctrl_c_mid_generation_is_clean(make_project):
    """SIGINT while a rebuild generates: no partial file, the old output and a consistent
    database remain, exit 0."""
    root = make_project({"manifests/a.toml": """\
        [texture.big]
        prompt = "bricks"
        """})
    env = dict(os.environ, ASSETFORGE_PLUGINS="diffusers")
    # Ctrl-C in a terminal reaches a process whose SIGINT is at its default. A suite started
    # as a background job of a non-interactive shell (SIGINT ignored) must not pass that on:
    # the child gets the terminal's default, as it would in the user's shell.
    proc = subprocess.Popen([AF, "watch", "--debounce", "0.05"], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()

    def wait_line(pred: Callable[[str], bool], timeout: float = 300) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if pred(lines.get(timeout=1)):
                    return
            except queue.Empty:
                assert proc.poll() is None, proc.stderr.read()
        raise AssertionError("timed out waiting for watch output")

    try:
        wait_line(lambda s: s.startswith("1 built"))
        out = root / "assets" / "textures" / "big.png"
        first = out.read_bytes()
        manifest = root / "manifests" / "a.toml"
        # A generation long enough (seconds even on a fast machine) to be interrupted.
        save_like_an_editor(manifest, manifest.read_text().replace(
            '"bricks"', '"red bricks"\nwidth = 256\nheight = 256\nsteps = 60'))
        wait_line(lambda s: "[1/1] big" in s)  # printed just before the generation starts
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0
    assert "stopped" in proc.stderr.read()
    assert out.read_bytes() == first  # the last good output, whole
    assert not [p for p in (root / "assets").rglob("*") if p.name.endswith(".tmp")]
    conn = sqlite3.connect(root / ".assetforge" / "assetforge.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        builds = conn.execute("SELECT command, status FROM builds ORDER BY id").fetchall()
        assert builds == [("watch", "finished"), ("watch", "interrupted")]
        assert conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == 1
    finally:
        conn.close()
    assert (root / ".assetforge" / "lock").read_text().find('"released"') != -1
