"""Commands that plan and build: init, build, status."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import UserError
from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    TTYProgress,
    emit,
    fail,
    json_output,
    lock_project,
    open_project,
    project_builder,
    sigterm_as_interrupt,
    state,
)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", help="Project name (default: the folder name).")
def init(directory: Path, name: str | None) -> None:
    """Create a working project in DIRECTORY."""
    from ..scaffold import scaffold

    try:
        created = scaffold(directory, name)
    except UserError as e:
        fail(e)
    for p in created:
        click.echo(f"created {p}")
    _editor_files(directory)
    click.echo(f"next: cd {directory} && assetforge build")



def _editor_files(directory: Path) -> None:
    """Schemas and a .taplo.toml, so editors complete and check the manifests at once."""
    from ..plugins import load_plugins
    from ..project import load_project
    from ..schema import TAPLO_CONFIG, taplo_config, write_schemas

    try:
        project = load_project(directory)
        write_schemas(project, load_plugins(project))
    except UserError as e:  # a broken plugin: the project is still made
        click.echo(f"note: no editor schemas: {e}", err=True)
        return
    taplo = project.root / TAPLO_CONFIG
    if not taplo.exists():
        taplo.write_text(taplo_config(project), encoding="utf-8")
        click.echo(f"created {taplo}")


def _print_plan_line(status: str, asset_id: str, reason: str, explain: bool) -> None:
    line = f"{status:<11} {asset_id}"
    if explain and reason:
        line += f"  ({reason})"
    click.echo(line)


def print_result(result: Any, explain: bool, dry_run: bool = False) -> None:
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


def report_errors(err: UserError) -> None:
    for p in err.problems:
        click.echo(f"error: {p}", err=True)
    if len(err.problems) > 1:
        click.echo(f"{len(err.problems)} errors; nothing was built", err=True)



@click.command()
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
@click.option("--executor", metavar="NAME",
              help="Where to generate: local (default), or one a plugin adds, e.g. ray "
                   "(default: [executor] name in assetforge.toml).")
@click.option("--ray-address", metavar="ADDR",
              help="With --executor ray: a cluster (auto, ray://host:port); default: start "
                   "a local Ray for this build.")
@click.pass_context
def build(ctx: click.Context, asset_ids: tuple[str, ...], dry_run: bool, force: bool,
          explain: bool, fail_fast: bool, check: bool, no_wait: bool, as_json: bool,
          executor: str | None, ray_address: str | None) -> None:
    """Build stale assets (all, or ASSET_IDS).

    Outputs of recipes built before (a reverted edit) are restored from the output cache
    without generating. A failing asset does not stop the others unless --fail-fast.
    """
    json_output(ctx, as_json)
    project = open_project(ctx)
    only = list(asset_ids) or None
    whole = not (only or dry_run or force or check or executor or ray_address)
    if whole and not (explain or as_json):
        _noop_from_stamp(project)
    from ..engine import Builder

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
    sigterm_as_interrupt()
    try:
        builder = Builder(project, executor=executor or ("ray" if ray_address else None),
                          executor_options={"address": ray_address} if ray_address else None)
        builder.freeze_after_plan = state.one_shot
        progress = None if as_json else TTYProgress()
        candidates: tuple[int, list[str]] = (0, [])
        if dry_run:
            result = builder.build(only, force=force, dry_run=True)
        else:
            with lock_project(project, "build", no_wait):
                result = builder.build(only, force=force, fail_fast=fail_fast,
                                       progress=progress)
                candidates = _candidates(builder, result, progress)
                _refresh_schemas(builder)
    except UserError as e:
        fail(e)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: finished outputs are kept and recorded; 'assetforge build' "
                   "does the rest", err=True)
        sys.exit(EXIT_INTERRUPTED)
    builder.close()
    if whole:
        _write_stamp(builder, result)
    if as_json:
        data = result.as_dict()
        if not dry_run:
            _add_checks(project, result, data)
            if candidates != (0, []):
                data["candidates"] = {"rendered": candidates[0], "errors": candidates[1]}
        emit(data)
    else:
        print_result(result, explain, dry_run)
        if not dry_run and candidates[0]:
            click.echo(f"{candidates[0]} seed candidates rendered ('assetforge review' shows "
                       "them, 'assetforge pick ID K' chooses one)")
    if not dry_run:
        for err in candidates[1]:
            click.echo(f"  candidate failed: {err}", err=True)
    sys.exit(EXIT_FAILED if result.failed else EXIT_OK)


def _noop_from_stamp(project: Any) -> None:
    """Nothing the last no-op build depended on changed: say so and exit, without a plan."""
    from ..noopstamp import holds, summary_line

    assets = holds(str(project.root), str(project.state_dir), project.cache_dir_override)
    if assets is not None:
        click.echo(summary_line(assets))
        sys.exit(EXIT_OK)


def _write_stamp(builder: Any, result: Any) -> None:
    """A whole build that found nothing to do stamps what it depended on (any other drops
    the stamp); after the database is closed, so its stat is final."""
    from ..noopstamp import write

    builder.project.close_file_hashes()
    try:
        write(builder.project, builder.plugins, result.plan)
    except OSError:
        pass  # only an optimisation: the next build plans


def _refresh_schemas(builder: Any) -> None:
    """Editor schemas follow the plugins (projects with init's .taplo.toml only)."""
    from ..schema import refresh

    refresh(builder.project, builder.plugins)


def _candidates(builder: Any, result: Any, progress: Any) -> tuple[int, list[str]]:
    """Seed candidates (``candidates = N``): a pass after the build, see candidates.py."""
    if result.stopped or not any(a.spec.get("candidates") for a in result.plan.assets):
        return 0, []
    from ..candidates import render_candidates

    return render_candidates(builder, result.plan, progress)


def _add_checks(project: Any, result: Any, data: dict[str, Any]) -> None:
    """Each built or failed asset's quality checks, as recorded (``checks`` by job id)."""
    ran = [a for a in result.plan.assets
           if a.status != "up-to-date" and any(d["id"] == a.id and d["status"] in
                                               ("built", "failed") for d in data["assets"])]
    if not ran:
        return
    from ..review.collect import latest_checks

    found = latest_checks(project.database, [jp.job.job_id for a in ran for jp in a.jobs])
    by_asset = {a.id: {jp.job.job_id: found[jp.job.job_id] for jp in a.jobs
                       if jp.job.job_id in found} for a in ran}
    for d in data["assets"]:
        if by_asset.get(d["id"]):
            d["checks"] = by_asset[d["id"]]



@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--explain/--no-explain", default=True, help="Show why assets are stale.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, explain: bool) -> None:
    """Show each asset's plan status: new, changed, missing, modified, up-to-date.

    Records outputs that carry their recipe (a fresh clone) unless a build holds the lock.
    """
    json_output(ctx, as_json)
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


COMMANDS = [init, build, status]
