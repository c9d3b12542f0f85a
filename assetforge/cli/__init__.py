"""The ``assetforge`` command: a thin layer over the library (engine, plan, db).

Command groups live in modules of their own; this one builds the group and adds them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..errors import UserError
from ..project import is_url
from . import build, editor, maintain, query, repair, review, serve
from .common import fail, state


class AssetForgeGroup(click.Group):
    """The command group: adds a project's own plugin commands, and reports a database found
    damaged mid-command (a garbled page no up-front check sees) as an error, not a traceback."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or ctx.resilient_parsing:
            return found
        return _project_plugin_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as e:
            damage = _database_damage(ctx, e)
            if damage is None:
                raise
            fail(damage)


def _project_plugin_command(ctx: click.Context, name: str) -> click.Command | None:
    """``name`` registered by a plugin of the project's ``plugins_dir`` (loaded only when
    the name is no built-in or entry-point command). A plugin that fails to load: exit 2."""
    from ..plugins import load_plugins
    from ..project import load_project

    project_dir = ctx.params.get("project_dir")
    try:
        project = load_project(project_dir)
    except UserError:
        return None  # not in a project: click says "no such command"
    if project.plugins_dir is None:
        return None
    extra = click.Group("project-plugins")
    try:
        load_plugins(project).register_commands(extra)
    except UserError as e:
        fail(e)
    return extra.commands.get(name)


def _database_damage(ctx: click.Context, error: Exception) -> UserError | None:
    import sqlite3

    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if not (isinstance(error, sqlite3.DatabaseError) or (
            sqlalchemy_exc is not None and isinstance(error, sqlalchemy_exc.DatabaseError))):
        return None
    from ..project import load_project
    from ..records import damage_error, diagnose

    try:
        db = load_project((ctx.obj or {}).get("project_dir")).database
    except UserError:
        return None
    if diagnose(db) is None and isinstance(error, sqlite3.OperationalError | getattr(
            sqlalchemy_exc, "OperationalError", sqlite3.OperationalError)):
        return None  # locked, disk full, …: not damage
    return damage_error(db, getattr(error, "orig", None) or error)


@click.group(cls=AssetForgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="assetforge")
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Project folder (default: search upward from the working directory).")
@click.option("--cache-dir", metavar="DIR|URL",
              help="Output cache: a folder (a team share, a CI cache) or a URL such as "
                   "s3://bucket/prefix (default: $ASSETFORGE_CACHE_DIR, [project] cache_dir, "
                   "or .assetforge/objects).")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path | None, cache_dir: str | None) -> None:
    """AssetForge: reproducible, incremental builds of AI-generated game assets.

    Exit codes: 0 ok, 1 an asset failed (or is stale with --check, or verify found a
    problem), 2 a mistake in the input: usage, a manifest or assetforge.toml, a plugin that
    fails to load, a damaged database ('assetforge repair'), or the project is locked and
    --no-wait was given; 130 interrupted.
    """
    obj = ctx.ensure_object(dict)
    obj["project_dir"] = project_dir
    obj["cache_dir"] = (None if cache_dir is None else cache_dir if is_url(cache_dir)
                        and not cache_dir.startswith("file://") else
                        Path(cache_dir.removeprefix("file://")).resolve())



for _module in (build, query, maintain, review, repair, editor, serve):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def _register_plugin_commands() -> None:
    from ..plugins import load_plugins

    try:  # entry points only; a plugin that fails to load is reported by the command run
        load_plugins(None, strict=False).register_commands(cli)
    except UserError:
        pass


_register_plugin_commands()


def main() -> None:
    state.one_shot = True
    cli(prog_name="assetforge")
