"""Long-running and housekeeping commands: watch, verify, gc."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import UserError
from ..project import Project
from .build import print_result, report_errors
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    emit,
    fail,
    json_output,
    lock_project,
    open_project,
    project_builder,
    sigterm_as_interrupt,
)


class _WatchPrinter:
    """Prints what ``watch`` does: the same messages as ``build``."""

    def __init__(self, project: Project):
        self.project = project

    def start(self, ws: Any) -> None:
        click.echo(f"watching {len(ws.schedules)} folder(s) of {self.project.root} "
                   "(Ctrl-C to stop)")

    def change(self, paths: list[Path]) -> None:
        names = ", ".join(self.project.rel(p) for p in paths[:5])
        click.echo(f"changed: {names}" + (f" and {len(paths) - 5} more" if len(paths) > 5 else ""))

    def result(self, result: Any) -> None:
        print_result(result, explain=False)

    def error(self, err: UserError) -> None:
        report_errors(err)
        click.echo("waiting for a fix; outputs are unchanged", err=True)

    def progress(self, done: int, total: int, label: str) -> None:
        if label and done < total:
            click.echo(f"  [{done + 1}/{total}] {label}")



@click.command()
@click.option("--debounce", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="Seconds of quiet after a change before rebuilding (save storms).")
@click.option("--no-wait", is_flag=True, help="Fail at once if the project is locked.")
@click.pass_context
def watch(ctx: click.Context, debounce: float, no_wait: bool) -> None:
    """Rebuild whenever manifests, assetforge.toml, style packs or plugins change.

    The model stays loaded between rebuilds; only assets whose recipe changed are
    regenerated. A broken save prints its error and the last good outputs stay.
    """
    from ..watch import WatchCallbacks, Watcher

    project = open_project(ctx)
    out = _WatchPrinter(project)
    callbacks = WatchCallbacks(on_start=out.start, on_change=out.change, on_result=out.result,
                               on_error=out.error, progress=out.progress)
    sigterm_as_interrupt()
    try:
        with lock_project(project, "watch", no_wait):
            Watcher(project, debounce=debounce, callbacks=callbacks).run()
    except UserError as e:
        fail(e)
    except KeyboardInterrupt:
        click.echo("\nstopped", err=True)
    sys.exit(EXIT_OK)



def _print_verify(report: Any) -> None:
    for f in report.files:
        if f.status != "ok":
            click.echo(f"{f.status:<11} {f.job_id}  {f.output}" + (f"  ({f.detail})"
                                                                   if f.detail else ""))
    for r in report.regenerated or []:
        line = f"{r.status:<11} {r.job_id}"
        if r.max_diff is not None and r.status != "exact":
            line += f"  max diff {r.max_diff:g}, mean {r.mean_diff:.3f}"
        if r.environment_diff:
            line += "; environment: " + ", ".join(
                f"{k} {a} → {b}" for k, (a, b) in r.environment_diff.items())
        if r.detail:
            line += f"  ({r.detail})"
        if r.scratch:
            line += f"  [{r.scratch}]"
        click.echo(line)
    s = report.summary()
    click.echo("files: " + ", ".join(f"{n} {k}" for k, n in sorted(s["files"].items()))
               + ("; regenerated: " + (", ".join(f"{n} {k}" for k, n in
                                                  sorted(s["regenerated"].items())) or "none")
                  if "regenerated" in s else ""))



@click.command()
@click.argument("asset_ids", nargs=-1)
@click.option("--regenerate", is_flag=True,
              help="Also regenerate into a scratch folder and compare with the records.")
@click.option("--sample", type=click.IntRange(min=1),
              help="With --regenerate: only N randomly chosen outputs.")
@click.option("--seed", type=int, help="Seed for choosing the --sample (default: random).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def verify(ctx: click.Context, asset_ids: tuple[str, ...], regenerate: bool, sample: int | None,
           seed: int | None, as_json: bool) -> None:
    """Re-hash every output against its record: report edited, corrupted or missing files.

    Exit 1 when a file is modified, corrupted or missing, or a regenerated output differs.
    Results are recorded in the database.
    """
    from ..verify import verify as run_verify

    json_output(ctx, as_json)
    if sample is not None and not regenerate:
        fail(UserError("--sample needs --regenerate"))
    with project_builder(ctx) as builder:
        report = run_verify(builder, list(asset_ids) or None, regenerate=regenerate,
                            sample=sample, seed=seed)
    if as_json:
        emit(report.as_dict())
    else:
        _print_verify(report)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)



@click.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--keep-days", type=click.FloatRange(min=0), default=30, show_default=True,
              help="Keep objects used or recorded within this many days.")
@click.option("--no-wait", is_flag=True, help="Fail at once if the project is locked.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def gc(ctx: click.Context, dry_run: bool, keep_days: float, no_wait: bool,
       as_json: bool) -> None:
    """Remove cached outputs no current or recent recipe needs.

    \b
    An object is kept when any of these holds, and removed otherwise:
      1. it is the output of a current recipe, or the newest recorded output of a
         current asset;
      2. a record of this project younger than --keep-days made, restored or adopted it;
      3. it was written or restored within --keep-days (protects other clones sharing
         the cache folder).
    """
    from ..engine import Builder
    from ..objects import collect_garbage

    project = open_project(ctx)
    try:
        with lock_project(project, "gc", no_wait):
            builder = Builder(project)
            report = collect_garbage(builder, keep_days=keep_days, dry_run=dry_run)
            builder.close()
    except UserError as e:
        fail(e)
    if as_json:
        emit(report.as_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for o in report.removed:
        click.echo(f"{verb} {o.hash} ({o.size} bytes)")
    click.echo(f"{verb} {len(report.removed)} object(s) ({report.freed_bytes} bytes), "
               f"{report.refs_removed} ref(s) and {report.temp_removed} stale temp file(s); "
               f"kept {report.kept} object(s)")


COMMANDS = [watch, verify, gc]
