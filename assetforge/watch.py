"""``assetforge watch``: rebuild what a saved file affects, keeping the model loaded.

Watched: ``assetforge.toml``, the manifest files (their globs, so new files count too), the
project's plugin folder, whatever plugins return from the ``watch_paths`` hook (style
packs), and the image inputs of the asset graph: repository files and the upstream outputs
other assets take as inputs (so a hand edit of an upstream image rebuilds its dependents),
and the ``poses`` globs of animations (a pose file dropped in is a new frame).
Other outputs and the state folder are never watched, so builds do not trigger builds.

Threads: watchdog's observer thread only records which relevant paths changed. The build
worker is ``Watcher.run``; the CLI runs it on the main thread so Ctrl-C interrupts a
generation at once (the atomic write leaves no partial file, the record is not written, the
build row says ``interrupted``). Events that arrive during a build accumulate and are handled
after it as one batch. A batch starts once no relevant event came for ``debounce`` seconds, so
an editor's save storm (temp file, write, rename, chmod…) is one rebuild.

Affected assets: every batch re-plans everything (cheap: unchanged manifests are not even
re-parsed) and regenerates only stale jobs. Recipes carry content hashes of everything that
changes the bytes (style files included), so this rebuilds exactly the assets a change
affects: a style pack edit rebuilds the assets using it; an ``assetforge.toml`` edit reloads
the project and plugins, then regenerates only what the new recipes change.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PluginError, UserError
from .layout import static_prefix

if TYPE_CHECKING:
    from .engine import Builder, BuildResult, Progress
    from .project import Project

MAX_DEBOUNCE_S = 2.0  # a continuous event stream still rebuilds this often


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a ``Path.glob`` pattern on POSIX relative paths (``**`` spans folders)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1:j].replace("\\", "\\\\")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass
class WatchSet:
    """What to schedule with the observer, and which changed paths matter."""

    root: Path
    config: Path
    manifest_patterns: list[re.Pattern[str]]
    plugins_dir: Path | None
    extra: list[Path]
    ignored: list[Path]
    schedules: dict[Path, bool] = field(default_factory=dict)  # folder → recursive
    # Image inputs: repository files and upstream outputs (watched even inside output_dir,
    # so a hand edit of an upstream output rebuilds its dependents).
    inputs: frozenset[Path] = frozenset()
    # Globs of inputs (an animation's poses): a file added that matches one is a change too.
    input_patterns: list[re.Pattern[str]] = field(default_factory=list)

    @classmethod
    def of(cls, project: Project, extra: list[Path],
           inputs: frozenset[Path] = frozenset(),
           input_globs: frozenset[str] = frozenset()) -> WatchSet:
        root = project.root.resolve()
        ws = cls(root, project.config_path.resolve(),
                 [glob_regex(g.replace("\\", "/")) for g in project.manifest_globs],
                 project.plugins_dir.resolve() if project.plugins_dir else None,
                 [Path(p).resolve() for p in extra],
                 # Our own writes never trigger a build (an output_dir of "." is not ignored
                 # wholesale: manifests live there too).
                 [d for d in (project.output_dir.resolve(), project.state_dir.resolve())
                  if d != root])
        ws._add(root, False)
        for g in project.manifest_globs:
            g = g.replace("\\", "/")
            prefix = static_prefix(g)
            rest = g[len(prefix) + 1:] if prefix else g
            ws._add(root / prefix if prefix else root, "/" in rest or "**" in rest)
        if ws.plugins_dir is not None:
            ws._add(ws.plugins_dir, False)
        for p in ws.extra:
            if p.is_dir():
                ws._add(p, True)
            else:
                ws._add(p.parent, False)
        ws.inputs = inputs
        for p in inputs:
            ws._add(p.parent, False)
        for g in sorted(input_globs):
            ws.input_patterns.append(glob_regex(g))
            prefix = static_prefix(g)
            rest = g[len(prefix) + 1:] if prefix else g
            ws._add(root / prefix if prefix else root, "/" in rest or "**" in rest)
        return ws

    def _add(self, folder: Path, recursive: bool) -> None:
        # A folder that does not exist yet is watched through its nearest existing parent.
        while not folder.is_dir() and folder != folder.parent:
            folder, recursive = folder.parent, False
        self.schedules[folder] = self.schedules.get(folder, False) or recursive

    def relevant(self, raw: str) -> bool:
        path = Path(os.path.abspath(raw))
        if path in self.inputs:
            return True
        if any(path == d or d in path.parents for d in self.ignored):
            return False
        if path == self.config or (self.input_patterns and self._matches_input_glob(path)):
            return True
        if self.plugins_dir is not None and path.parent == self.plugins_dir \
                and path.suffix == ".py":
            return True
        if any(path == p or p in path.parents for p in self.extra):
            return True
        return self.is_manifest(path)

    def _matches_input_glob(self, path: Path) -> bool:
        return self._matches(path, self.input_patterns)

    def is_manifest(self, path: Path) -> bool:
        return self._matches(path, self.manifest_patterns)

    def _matches(self, path: Path, patterns: list[re.Pattern[str]]) -> bool:
        """Whether ``path`` (inside the project) matches one of ``patterns``."""
        try:
            rel = path.relative_to(self.root).as_posix()
        except ValueError:
            return False
        return any(p.match(rel) for p in patterns)

    def shown(self, paths: list[Path]) -> list[Path]:
        """The changes worth naming: files, and deleted manifests (not folders or editor
        temp files that came and went)."""
        out = [p for p in paths if p.is_file() or (not p.exists() and self.is_manifest(p))]
        return out or paths

    def reloads(self, path: Path) -> bool:
        """Does a change of ``path`` need the project and plugins reloaded?"""
        return path == self.config or (self.plugins_dir is not None
                                       and path.parent == self.plugins_dir)


@dataclass
class WatchCallbacks:
    """What the watcher reports; the CLI prints, tests and benchmarks record."""

    on_start: Callable[[WatchSet], None] | None = None
    on_change: Callable[[list[Path]], None] | None = None
    on_result: Callable[[BuildResult], None] | None = None
    on_error: Callable[[UserError], None] | None = None
    progress: Progress | None = None


class Watcher:
    """Watch a project and rebuild on change; ``run()`` blocks until ``stop()`` or Ctrl-C."""

    def __init__(self, project: Project, *, debounce: float = 0.1,
                 callbacks: WatchCallbacks | None = None, builder: Builder | None = None,
                 initial_build: bool = True):
        from .engine import Builder

        self.callbacks = callbacks or WatchCallbacks()
        self.debounce = debounce
        self.initial_build = initial_build
        self.builder = builder or Builder(project)
        self.builds = 0  # rebuilds started (batches handled), for tests and benchmarks
        self._cond = threading.Condition()
        self._pending: set[Path] = set()
        self._last_event = 0.0
        self._first_event = 0.0
        self._stop = False
        self._reload_failed = False  # a broken config: retry the reload on every batch
        self._observer: Any = None
        self._watches: dict[Path, Any] = {}
        self.watchset = self._watchset()

    # -- the observer side (watchdog's thread) -----------------------------------------------
    def _watchset(self) -> WatchSet:
        extra: list[Path] = []
        for _name, paths in self.builder.plugins.call_each("watch_paths",
                                                           project=self.builder.project):
            extra += [Path(p) for p in paths]
        return WatchSet.of(self.builder.project, extra, self.builder.input_files(),
                           self.builder.input_globs())

    def notify(self, raw_path: str) -> None:
        """Record a changed path (called from the observer thread)."""
        if not self.watchset.relevant(raw_path):
            return
        with self._cond:
            now = time.monotonic()
            if not self._pending:
                self._first_event = now
            self._pending.add(Path(os.path.abspath(raw_path)))
            self._last_event = now
            self._cond.notify_all()

    def _schedule(self) -> None:
        from watchdog.events import FileSystemEventHandler

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                for p in (event.src_path, getattr(event, "dest_path", "")):
                    if p:
                        watcher.notify(os.fsdecode(p))

        wanted = self.watchset.schedules
        for folder in [f for f in self._watches if f not in wanted]:
            self._observer.unschedule(self._watches.pop(folder))
        for folder, recursive in wanted.items():
            old = self._watches.get(folder)
            if old is not None and old.is_recursive == recursive:
                continue
            if old is not None:
                self._observer.unschedule(self._watches.pop(folder))
            self._watches[folder] = self._observer.schedule(Handler(), str(folder),
                                                            recursive=recursive)

    def stop(self) -> None:
        """Ask ``run()`` to return (from another thread); a running build stops between jobs."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    # -- the build worker --------------------------------------------------------------------
    def run(self) -> None:
        from watchdog.observers import Observer

        self._observer = Observer()
        self._schedule()
        self._observer.start()
        try:
            if self.callbacks.on_start:
                self.callbacks.on_start(self.watchset)
            if self.initial_build:
                self._build([])
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                self._build(batch)
        finally:
            self._observer.stop()
            self._observer.join(timeout=5)
            self.builder.close()

    def _next_batch(self) -> list[Path] | None:
        """Wait for changes, then for ``debounce`` seconds of quiet; None when stopping."""
        with self._cond:
            while True:
                if self._stop:
                    return None
                if self._pending:
                    now = time.monotonic()
                    quiet = now - self._last_event
                    if quiet >= self.debounce or now - self._first_event >= MAX_DEBOUNCE_S:
                        batch = sorted(self._pending)
                        self._pending.clear()
                        return batch
                    self._cond.wait(self.debounce - quiet)
                else:
                    # A timeout keeps the main thread responsive to Ctrl-C on every platform.
                    self._cond.wait(0.5)

    def _build(self, batch: list[Path]) -> None:
        cb = self.callbacks
        self.builds += 1
        if batch and cb.on_change:
            cb.on_change(self.watchset.shown(batch))
        try:
            if self._reload_failed or any(self.watchset.reloads(p) for p in batch):
                self._reload_failed = True
                self.builder.reload()  # a broken config raises here: the old one stays
                self._reload_failed = False
                self.watchset = self._watchset()
                self._schedule()
            result = self.builder.build(progress=cb.progress, command="watch",
                                        should_stop=lambda: self._stop)
        except (UserError, PluginError) as e:
            if cb.on_error:
                cb.on_error(e if isinstance(e, UserError) else UserError(str(e)))
            return
        # Image inputs added or removed, or an upstream output's folder now exists: watch it.
        fresh = self._watchset()
        if fresh.inputs != self.watchset.inputs or fresh.schedules != self.watchset.schedules:
            self.watchset = fresh
            self._schedule()
        if cb.on_result:
            cb.on_result(result)
