"""One build at a time: an exclusive lock on the project, and recovery after a killed build.

The lock is an OS file lock (``flock``; ``msvcrt.locking`` on Windows) on
``.assetforge/lock``, so the kernel releases it when its holder dies, even by SIGKILL. The
file's text says who holds it (for the waiting message) and whether they finished: a holder
that left it ``held`` died, and the next holder recovers (temp files removed, builds still
marked ``running`` marked ``interrupted``). Outputs are written atomically and SQLite commits
atomically, so nothing else needs repair: the next build plans and finishes the rest.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .errors import UserError

if TYPE_CHECKING:
    from .project import Project

LOCK_NAME = "lock"
_HELD: set[str] = set()  # lock files this process holds (flock does not nest across fds)


class LockBusy(UserError):
    """Another process holds the project lock and the caller asked not to wait."""


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


class ProjectLock:
    """``with ProjectLock(project, "build"):`` — exclusive use of the project's outputs.

    ``wait=False`` raises ``LockBusy`` at once when another process holds it; otherwise
    ``on_wait(message)`` is called once and the lock is awaited. ``recovered`` is true when
    the previous holder died without releasing it (and recovery ran).
    """

    def __init__(self, project: Project, command: str = "build", *, wait: bool = True,
                 on_wait: Callable[[str], None] | None = None, poll_s: float = 0.2):
        self.project = project
        self.command = command
        self.wait = wait
        self.on_wait = on_wait
        self.poll_s = poll_s
        self.path = project.state_dir / LOCK_NAME
        self.recovered = False
        self._fd: int | None = None

    # -- the holder's note -------------------------------------------------------------------
    def holder(self) -> dict[str, Any]:
        """What the lock file says about its (last) holder; {} when unreadable."""
        try:
            data = json.loads(self.path.read_text("utf-8") or "{}")
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _describe(self, h: dict[str, Any]) -> str:
        who = f"'{h.get('command', 'build')}' (pid {h.get('pid', '?')}"
        if h.get("host") and h.get("host") != platform.node():
            who += f" on {h['host']}"
        if h.get("since"):
            who += f", since {h['since']}"
        return who + ")"

    def _note(self, state: str) -> None:
        assert self._fd is not None
        note = {"state": state, "pid": os.getpid(), "host": platform.node(),
                "command": self.command,
                "since": datetime.now(UTC).astimezone().isoformat(timespec="seconds")}
        data = json.dumps(note).encode()
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data)

    # -- acquire / release -------------------------------------------------------------------
    def acquire(self) -> ProjectLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                msg = (f"another AssetForge command holds {self.project.rel(self.path)}: "
                       f"{self._describe(self.holder())}")
                if not self.wait:
                    raise LockBusy(msg + "; not waiting (--no-wait)")
                if self.on_wait is not None:
                    self.on_wait(msg + "; waiting for it to finish (Ctrl-C to give up)")
                while not _try_lock(fd):
                    time.sleep(self.poll_s)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _HELD.add(str(self.path))
        if self.holder().get("state") == "held":
            self.recovered = True
            recover(self.project)
        self._note("held")
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self._note("released")
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
            _HELD.discard(str(self.path))

    @staticmethod
    def held_here(project: Project) -> bool:
        """True when this process holds ``project``'s lock (a build adopting what it plans)."""
        return str(project.state_dir / LOCK_NAME) in _HELD

    def __enter__(self) -> ProjectLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def recover(project: Project) -> dict[str, int]:
    """Tidy up after a build that died holding the lock (call only while holding it).

    Removes the temp files its atomic writes left and marks its ``running`` builds
    ``interrupted``. Outputs and records need no repair (both are written atomically).
    """
    from .outputs import clean_temp_files
    from .records import diagnose

    removed = clean_temp_files(project.output_dir)
    interrupted = 0
    if project.database.exists() and diagnose(project.database) is None:  # damage: repair's
        from .db import Store

        store = Store(project.database)
        try:
            interrupted = store.interrupt_running()
        finally:
            store.close()
    return {"temp_files": removed, "builds": interrupted}
