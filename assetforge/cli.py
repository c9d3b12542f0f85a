"""The ``assetforge`` command: a thin layer over the library (engine, plan, db)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import UserError
from .project import Project, load_project

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
        return load_project(ctx.obj.get("project_dir"))
    except UserError as e:
        fail(e)
        raise  # unreachable


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
@click.pass_context
def cli(ctx: click.Context, project_dir: Path | None) -> None:
    """AssetForge: reproducible, incremental builds of AI-generated game assets.

    Exit codes: 0 ok, 1 an asset failed (or is stale with --check), 2 usage or manifest error.
    """
    ctx.ensure_object(dict)["project_dir"] = project_dir


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


@cli.command()
@click.argument("asset_ids", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Plan only: show what would be built.")
@click.option("--force", is_flag=True, help="Regenerate even up-to-date or hand-edited outputs.")
@click.option("--explain", is_flag=True, help="Say why each asset is (re)built.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed asset.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def build(ctx: click.Context, asset_ids: tuple[str, ...], dry_run: bool, force: bool,
          explain: bool, fail_fast: bool, as_json: bool) -> None:
    """Build stale assets (all, or ASSET_IDS)."""
    from .engine import Builder

    project = open_project(ctx)
    try:
        builder = Builder(project)
        progress = None if as_json else TTYProgress()
        result = builder.build(list(asset_ids) or None, force=force, dry_run=dry_run,
                               fail_fast=fail_fast, progress=progress)
    except UserError as e:
        fail(e)
    builder.close()
    if as_json:
        emit(result.as_dict())
    else:
        for a in result.assets:
            if a.status != "up-to-date" or explain:
                _print_plan_line(a.status, a.id, a.reason, explain or a.status != "built")
            for err in a.errors:
                click.echo(f"  error: {err}", err=True)
        s = result.summary()
        click.echo(f"{s['built']} built, {s['up_to_date']} up to date, {s['failed']} failed"
                   + (f", {s['skipped']} skipped" if s["skipped"] else "")
                   + (" (dry run)" if dry_run else ""))
    sys.exit(EXIT_FAILED if result.failed else EXIT_OK)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--explain/--no-explain", default=True, help="Show why assets are stale.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, explain: bool) -> None:
    """Show each asset's plan status: new, changed, missing, modified, up-to-date."""
    from .engine import Builder

    project = open_project(ctx)
    try:
        plan = Builder(project).plan()
    except UserError as e:
        fail(e)
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


def _register_plugin_commands() -> None:
    from .plugins import load_plugins

    try:
        load_plugins(None).hook.register_commands(cli=cli)
    except UserError:
        pass


_register_plugin_commands()


def main() -> None:
    cli(prog_name="assetforge")
