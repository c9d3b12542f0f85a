"""``assetforge repair``: keep a damaged build database beside and rebuild the records."""

from __future__ import annotations

import click

from ..errors import UserError
from .common import emit, fail, json_output, lock_project, open_project


@click.command()
@click.option("--force", is_flag=True,
              help="Rebuild the records even when the database looks sound.")
@click.option("--no-wait", is_flag=True, help="Fail at once if the project is locked.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def repair(ctx: click.Context, force: bool, no_wait: bool, as_json: bool) -> None:
    """Rebuild a damaged (or foreign, or newer) build database from the outputs on disk.

    The damaged file is kept beside as assetforge.db.damaged-<time> (with its -wal/-shm).
    Every output that carries its recipe is recorded again, and the output cache regains
    its recipe refs, so the next build generates nothing that was already built.
    """
    from ..repair import repair as run_repair

    json_output(ctx, as_json)
    project = open_project(ctx)
    try:
        with lock_project(project, "repair", no_wait):
            report = run_repair(project, force=force)
    except UserError as e:
        fail(e)
    if as_json:
        emit(report.as_dict())
        return
    if not report.repaired:
        click.echo(f"{project.rel(project.database)} is sound: nothing to repair "
                   "(--force rebuilds the records anyway)")
        return
    if report.damage:
        click.echo(f"damage: {report.damage}")
    for path in report.moved:
        click.echo(f"kept beside: {project.rel(path)}")
    click.echo(f"new database: {project.rel(project.database)}; recorded {report.adopted} "
               f"output(s) from their embedded recipes ({report.stale} of an older recipe), "
               f"{report.unproven} without a recipe, {report.missing} missing; "
               f"{report.refs} output cache ref(s) restored")


COMMANDS = [repair]
