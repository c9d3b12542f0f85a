"""The ``assetforge`` command: a thin layer over the library (engine, plan, db)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import UserError
from .project import Project, load_project

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# True when this process is the ``assetforge`` command (main()), which ends after one command:
# a build may then freeze its plan out of the garbage collector's sight (engine.gc_paused).
# Not when a program calls ``cli`` in-process (tests): frozen garbage would stay.
_one_shot = False


def fail(err: UserError) -> None:
    """Report a user mistake without a traceback and exit 2."""
    for p in err.problems:
        click.echo(f"error: {p}", err=True)
    n = len(err.problems)
    if n > 1:
        click.echo(f"{n} errors; nothing was built", err=True)
    sys.exit(EXIT_USAGE)


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
    from .engine import Builder

    project = open_project(ctx)
    builder = None
    try:
        builder = Builder(project)
        builder.freeze_after_plan = _one_shot
        yield builder
    except UserError as e:
        fail(e)
    finally:
        if builder is not None:
            builder.close()


def _waiting(message: str) -> None:
    click.echo(f"note: {message}", err=True)


def _lock(project: Project, command: str, no_wait: bool) -> Any:
    from .lock import ProjectLock

    return ProjectLock(project, command, wait=not no_wait, on_wait=_waiting)


def _sigterm_as_interrupt() -> None:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="assetforge")
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Project folder (default: search upward from the working directory).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output cache folder, e.g. a team share or a CI cache (default: "
                   "$ASSETFORGE_CACHE_DIR, [project] cache_dir, or .assetforge/objects).")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path | None, cache_dir: Path | None) -> None:
    """AssetForge: reproducible, incremental builds of AI-generated game assets.

    Exit codes: 0 ok, 1 an asset failed (or is stale with --check, or verify found a
    problem), 2 usage or manifest error (or the project is locked and --no-wait was given),
    130 interrupted.
    """
    obj = ctx.ensure_object(dict)
    obj["project_dir"] = project_dir
    obj["cache_dir"] = cache_dir.resolve() if cache_dir is not None else None


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", help="Project name (default: the folder name).")
def init(directory: Path, name: str | None) -> None:
    """Create a working project in DIRECTORY."""
    from .scaffold import scaffold

    try:
        created = scaffold(directory, name)
    except UserError as e:
        fail(e)
    for p in created:
        click.echo(f"created {p}")
    click.echo(f"next: cd {directory} && assetforge build")


def _print_plan_line(status: str, asset_id: str, reason: str, explain: bool) -> None:
    line = f"{status:<11} {asset_id}"
    if explain and reason:
        line += f"  ({reason})"
    click.echo(line)


def _print_result(result: Any, explain: bool, dry_run: bool = False) -> None:
    for a in result.assets:
        if a.status != "up-to-date" or explain:
            _print_plan_line(a.status, a.id, a.reason, explain or a.status != "built")
        for err in a.errors:
            click.echo(f"  error: {err}", err=True)
    s = result.summary()
    click.echo(f"{s['built']} built, "
               + (f"{s['restored']} restored, " if s["restored"] else "")
               + f"{s['up_to_date']} up to date, {s['failed']} failed"
               + (f", {s['skipped']} skipped" if s["skipped"] else "")
               + (" (dry run)" if dry_run else ""))


def _report_errors(err: UserError) -> None:
    for p in err.problems:
        click.echo(f"error: {p}", err=True)
    if len(err.problems) > 1:
        click.echo(f"{len(err.problems)} errors; nothing was built", err=True)


@cli.command()
@click.argument("asset_ids", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Plan only: show what would be built.")
@click.option("--force", is_flag=True, help="Regenerate even up-to-date or hand-edited outputs.")
@click.option("--explain", is_flag=True, help="Say why each asset is (re)built.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed asset.")
@click.option("--check", is_flag=True,
              help="CI mode: generate nothing, list stale assets and why; exit 1 if any.")
@click.option("--no-wait", is_flag=True,
              help="Fail at once (exit 2) if another build holds the project lock.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def build(ctx: click.Context, asset_ids: tuple[str, ...], dry_run: bool, force: bool,
          explain: bool, fail_fast: bool, check: bool, no_wait: bool, as_json: bool) -> None:
    """Build stale assets (all, or ASSET_IDS).

    Outputs of recipes built before (a reverted edit) are restored from the output cache
    without generating. A failing asset does not stop the others unless --fail-fast.
    """
    from .engine import Builder

    project = open_project(ctx)
    only = list(asset_ids) or None
    if check:
        with project_builder(ctx) as builder:
            result = builder.check(only)
        if as_json:
            emit(result.as_dict())
        else:
            for a in result.assets:
                if a.status != "up-to-date" or explain:
                    _print_plan_line(a.status, a.id, a.reason, True)
            n = len(result.stale)
            click.echo(f"{n} stale, {len(result.assets) - n} up to date"
                       + ("" if n else ": nothing to build"))
        sys.exit(EXIT_FAILED if result.stale else EXIT_OK)
    _sigterm_as_interrupt()
    try:
        builder = Builder(project)
        builder.freeze_after_plan = _one_shot
        progress = None if as_json else TTYProgress()
        if dry_run:
            result = builder.build(only, force=force, dry_run=True)
        else:
            with _lock(project, "build", no_wait):
                result = builder.build(only, force=force, fail_fast=fail_fast,
                                       progress=progress)
    except UserError as e:
        fail(e)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: finished outputs are kept and recorded; 'assetforge build' "
                   "does the rest", err=True)
        sys.exit(EXIT_INTERRUPTED)
    builder.close()
    if as_json:
        emit(result.as_dict())
    else:
        _print_result(result, explain, dry_run)
    sys.exit(EXIT_FAILED if result.failed else EXIT_OK)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--explain/--no-explain", default=True, help="Show why assets are stale.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, explain: bool) -> None:
    """Show each asset's plan status: new, changed, missing, modified, up-to-date."""
    with project_builder(ctx) as builder:
        plan = builder.plan()
    counts = plan.counts()
    if as_json:
        emit({"assets": [{"id": a.id, "status": a.status, "reason": a.reason,
                          "outputs": a.outputs} for a in plan.assets],
              "summary": counts})
        return
    for a in plan.assets:
        _print_plan_line(a.status, a.id, a.reason, explain)
    click.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no assets")


def _records(ctx: click.Context, asset_id: str) -> tuple[Project, list[Any]]:
    from .db import Store

    project = open_project(ctx)
    if not project.database.exists():
        return project, []
    store = Store(project.database)
    try:
        return project, store.history(asset_id)
    finally:
        store.close()


@cli.command()
@click.argument("asset_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show(ctx: click.Context, asset_id: str, as_json: bool) -> None:
    """Show an asset's current recipe, outputs and latest record."""
    from .engine import Builder

    project = open_project(ctx)
    try:
        plan = Builder(project).plan([asset_id])
    except UserError as e:
        fail(e)
    _, rows = _records(ctx, asset_id)
    a = plan.assets[0]
    data = {"id": a.id, "kind": a.spec.kind, "status": a.status, "reason": a.reason,
            "manifest": str(a.spec.location),
            "jobs": [{"job": jp.job.job_id, "output": jp.job.output, "status": jp.status,
                      "recipe_hash": jp.key, "recipe": jp.recipe} for jp in a.jobs],
            "latest_record": rows[-1].as_dict() if rows else None}
    if as_json:
        emit(data)
        return
    click.echo(f"{a.id} ({a.spec.kind}) — {a.status}  [{data['manifest']}]")
    for jp in a.jobs:
        click.echo(f"  {jp.job.job_id}: {jp.job.output}  {jp.status}  {jp.key}")
        click.echo(f"    prompt: {jp.job.prompt}")
        click.echo(f"    seed {jp.job.seed}, {jp.job.width}x{jp.job.height}, {jp.job.steps} steps, "
                   f"cfg {jp.job.guidance:g}, {jp.job.scheduler}, model {jp.job.model}")
    if rows:
        r = rows[-1]
        click.echo(f"  last record #{r.id} {r.created_at} {r.status} {r.output_hash or ''}")


@cli.command()
@click.argument("asset_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def history(ctx: click.Context, asset_id: str, as_json: bool) -> None:
    """List every recorded generation of an asset, oldest first."""
    _, rows = _records(ctx, asset_id)
    if as_json:
        emit([r.as_dict() for r in rows])
        return
    if not rows:
        click.echo(f"no records for {asset_id!r}")
    for r in rows:
        extra = r.error if r.status == "failed" else (r.output_hash or "")
        dur = f"{r.duration_s:.2f}s" if r.duration_s is not None else ""
        click.echo(f"#{r.id} {r.created_at} {r.job_id} {r.status} {r.recipe_hash[:19]} "
                   f"seed={r.seed} {dur} {extra}")


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def plugins_cmd(ctx: click.Context, as_json: bool) -> None:
    """List loaded plugins, their versions and the hooks each implements."""
    from .plugins import load_plugins
    from .project import find_root

    project = None
    try:
        find_root(ctx.obj.get("project_dir") or Path.cwd())
        project = open_project(ctx)
    except UserError:
        pass  # outside a project: entry-point plugins only
    try:
        infos = load_plugins(project).info()
    except UserError as e:
        fail(e)
    if as_json:
        emit([{"name": i.name, "version": i.version, "source": i.source,
               "hooks": list(i.hooks)} for i in infos])
        return
    for i in infos:
        click.echo(f"{i.name} {i.version}  [{i.source}]\n    hooks: {', '.join(i.hooks)}")


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
        _print_result(result, explain=False)

    def error(self, err: UserError) -> None:
        _report_errors(err)
        click.echo("waiting for a fix; outputs are unchanged", err=True)

    def progress(self, done: int, total: int, label: str) -> None:
        if label and done < total:
            click.echo(f"  [{done + 1}/{total}] {label}")


@cli.command()
@click.option("--debounce", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="Seconds of quiet after a change before rebuilding (save storms).")
@click.option("--no-wait", is_flag=True, help="Fail at once if the project is locked.")
@click.pass_context
def watch(ctx: click.Context, debounce: float, no_wait: bool) -> None:
    """Rebuild whenever manifests, assetforge.toml, style packs or plugins change.

    The model stays loaded between rebuilds; only assets whose recipe changed are
    regenerated. A broken save prints its error and the last good outputs stay.
    """
    from .watch import WatchCallbacks, Watcher

    project = open_project(ctx)
    out = _WatchPrinter(project)
    callbacks = WatchCallbacks(on_start=out.start, on_change=out.change, on_result=out.result,
                               on_error=out.error, progress=out.progress)
    _sigterm_as_interrupt()
    try:
        with _lock(project, "watch", no_wait):
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


@cli.command()
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
    from .verify import verify as run_verify

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


@cli.command()
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
    from .engine import Builder
    from .objects import collect_garbage

    project = open_project(ctx)
    try:
        with _lock(project, "gc", no_wait):
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


def _register_plugin_commands() -> None:
    from .plugins import load_plugins

    try:
        load_plugins(None).hook.register_commands(cli=cli)
    except UserError:
        pass


_register_plugin_commands()


def main() -> None:
    global _one_shot
    _one_shot = True
    cli(prog_name="assetforge")
