"""The ``assetforge`` command: a thin layer over the library (engine, plan, db).

Command groups live in modules of their own; this one builds the group and adds them.
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import __version__
from ..errors import UserError
from ..project import is_url
from . import build, maintain, query, review
from .common import state


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    problem), 2 usage or manifest error (or the project is locked and --no-wait was given),
    130 interrupted.
    """
    obj = ctx.ensure_object(dict)
    obj["project_dir"] = project_dir
    obj["cache_dir"] = (None if cache_dir is None else cache_dir if is_url(cache_dir)
                        and not cache_dir.startswith("file://") else
                        Path(cache_dir.removeprefix("file://")).resolve())



for _module in (build, query, maintain, review):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def _register_plugin_commands() -> None:
    from ..plugins import load_plugins

    try:
        load_plugins(None).hook.register_commands(cli=cli)
    except UserError:
        pass


_register_plugin_commands()


def main() -> None:
    state.one_shot = True
    cli(prog_name="assetforge")
