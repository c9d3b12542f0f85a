"""Commands that read the record: show, history, plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import UserError
from ..project import Project
from .common import (
    emit,
    fail,
    open_project,
)


def _records(ctx: click.Context, asset_id: str) -> tuple[Project, list[Any]]:
    from ..db import Store

    project = open_project(ctx)
    if not project.database.exists():
        return project, []
    try:
        store = Store(project.database)
    except UserError as e:  # a damaged database: say so, and what to run
        fail(e)
    try:
        return project, store.history(asset_id)
    finally:
        store.close()



@click.command()
@click.argument("asset_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show(ctx: click.Context, asset_id: str, as_json: bool) -> None:
    """Show an asset's current recipe, outputs and latest record."""
    from ..engine import Builder

    project = open_project(ctx)
    try:
        plan = Builder(project).plan([asset_id])
    except UserError as e:
        fail(e)
    _, rows = _records(ctx, asset_id)
    a = next(a for a in plan.assets if a.id == asset_id)  # the plan also has its inputs
    data = {"id": a.id, "kind": a.spec.kind, "status": a.status, "reason": a.reason,
            "manifest": str(a.spec.location),
            "jobs": [{"job": jp.job.job_id, "output": jp.job.output, "status": jp.status,
                      "recipe_hash": jp.key, "recipe": jp.recipe} for jp in a.jobs],
            # every output (primary, derived, each file of a step) with its recorded hash
            "outputs": [{"job": jp.job.job_id, "output": jp.job.output,
                         "hash": jp.last.output_hash if jp.last else None} for jp in a.jobs],
            # image inputs with their hashes on disk (derived files' sources are not listed)
            "inputs": {name: {"ref": i.ref, "hash": i.hash, "asset": i.asset, "view": i.view}
                       for jp in a.jobs if jp.job.job_id.removeprefix(
                           f"{a.id}#{jp.job.view}" if jp.job.view else a.id) == ""
                       for name, i in jp.job.inputs.items()},
            "latest_record": rows[-1].as_dict() if rows else None}
    if a.spec.animations:  # frames, timing and the largest anchor jitter per animation
        from ..animations import summary

        data["animations"] = summary(a.spec, [r.as_dict() for r in rows])
    if as_json:
        emit(data)
        return
    click.echo(f"{a.id} ({a.spec.kind}) — {a.status}  [{data['manifest']}]")
    for name, i in data["inputs"].items():
        click.echo(f"  input {name} = {i['ref']}  {i['hash']}")
    for jp in a.jobs:
        click.echo(f"  {jp.job.job_id}: {jp.job.output}  {jp.status}  {jp.key}")
        click.echo(f"    prompt: {jp.job.prompt}")
        click.echo(f"    seed {jp.job.seed}, {jp.job.width}x{jp.job.height}, {jp.job.steps} steps, "
                   f"cfg {jp.job.guidance:g}, {jp.job.scheduler}, model {jp.job.model}")
    for name, anim in data.get("animations", {}).items():
        jitter = "not measured" if anim["jitter_px"] is None else f"{anim['jitter_px']} px"
        click.echo(f"  animation {name}: {len(anim['frames'])} frames, {anim['fps']:g} fps, "
                   f"{anim['loop']}{', motion ' + anim['motion'] if anim['motion'] else ''}; "
                   f"anchor jitter {jitter}")
    if rows:
        r = rows[-1]
        click.echo(f"  last record #{r.id} {r.created_at} {r.status} {r.output_hash or ''}")
        checks = (r.as_dict().get("metrics") or {}).get("checks") or {}
        for name, c in sorted(checks.items()):
            verdict = "ok" if c.get("passed") else c.get("severity", "fail")
            click.echo(f"    check {name}: {verdict}  {c.get('message', '')}")



@click.command()
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



@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def plugins_cmd(ctx: click.Context, as_json: bool) -> None:
    """List loaded plugins, their versions and the hooks each implements."""
    from ..plugins import load_plugins
    from ..project import find_root

    project = None
    try:
        find_root(ctx.obj.get("project_dir") or Path.cwd())
        project = open_project(ctx)
    except UserError:
        pass  # outside a project: entry-point plugins only
    try:
        plugins = load_plugins(project, strict=False)  # list what loads; report the rest
    except UserError as e:
        fail(e)
    infos = plugins.info()
    if as_json:
        emit([{"name": i.name, "version": i.version, "source": i.source,
               "hooks": list(i.hooks)} for i in infos]
             + [{"name": f.name, "error": str(f.problem())} for f in plugins.failures])
    else:
        for i in infos:
            click.echo(f"{i.name} {i.version}  [{i.source}]\n    hooks: {', '.join(i.hooks)}")
    if plugins.failures:
        fail(UserError([f.problem() for f in plugins.failures]))


COMMANDS = [show, history, plugins_cmd]
