"""What every command shares: opening the project, reporting mistakes, locks, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..errors import UserError
from ..project import Project, load_project

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _State:
    # True when this process is the ``assetforge`` command (main()), which ends after one
    # command: a build may then freeze its plan out of the garbage collector's sight
    # (engine.gc_paused). Not when a program calls ``cli`` in-process (tests): frozen garbage
    # would stay.
    one_shot = False


state = _State()


def fail(err: UserError) -> None:
    """Report a user mistake without a traceback and exit 2. A command run with ``--json``
    (``json_output``) also prints the errors as one JSON object: its stdout is JSON always."""
    for p in err.problems:
        click.echo(f"error: {p}", err=True)
    n = len(err.problems)
    if n > 1:
        click.echo(f"{n} errors; nothing was built", err=True)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and (ctx.find_root().obj or {}).get("json"):
        emit({"errors": [{"file": str(p.location.file) if p.location else None,
                          "line": p.location.line if p.location else None,
                          "key": p.key, "message": p.message, "text": str(p)}
                         for p in err.problems]})
    sys.exit(EXIT_USAGE)


def json_output(ctx: click.Context, as_json: bool) -> None:
    """Note that this command prints JSON, so ``fail`` prints its errors as JSON too."""
    ctx.find_root().ensure_object(dict)["json"] = as_json


def open_project(ctx: click.Context) -> Project:
    try:
        project = load_project(ctx.obj.get("project_dir"))
    except UserError as e:
        fail(e)
        raise  # unreachable
    if ctx.obj.get("cache_dir") is not None:
        project.cache_dir_override = ctx.obj["cache_dir"]
    return project


@contextmanager
def project_builder(ctx: click.Context) -> Iterator[Any]:
    """A ``Builder`` for the command's project; user mistakes exit 2, the store is closed."""
    from ..engine import Builder

    project = open_project(ctx)
    builder = None
    try:
        builder = Builder(project)
        builder.freeze_after_plan = state.one_shot
        yield builder
    except UserError as e:
        fail(e)
    finally:
        if builder is not None:
            builder.close()


def waiting(message: str) -> None:
    click.echo(f"note: {message}", err=True)


def lock_project(project: Project, command: str, no_wait: bool) -> Any:
    from ..lock import ProjectLock

    return ProjectLock(project, command, wait=not no_wait, on_wait=waiting)


def sigterm_as_interrupt() -> None:
    """Stop on SIGTERM (CI cancellation, ``kill``) exactly as on Ctrl-C: cleanly."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass


def emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


class TTYProgress:
    """A one-line progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled or total == 0:
            return
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {done}/{total} {label[:40]:<40}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()
