"""``assetforge schema``: JSON Schemas of the manifests and assetforge.toml for editors."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from .common import fail, open_project


@click.command()
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the schema to FILE (default: print it).")
@click.option("--config", "for_config", is_flag=True,
              help="The schema of assetforge.toml instead of the manifests'.")
@click.option("--editor", is_flag=True,
              help="Write both schemas into .assetforge/schemas/ and a .taplo.toml that maps "
                   "the manifests and assetforge.toml to them (an existing .taplo.toml is "
                   "left alone).")
@click.pass_context
def schema(ctx: click.Context, out_file: Path | None, for_config: bool, editor: bool) -> None:
    """A JSON Schema (draft 2020-12) of the manifests, from the registered keys.

    Every kind, every key with its type, allowed values, default, limits and help, the
    project's own plugin keys included; editors (taplo, Even Better TOML) complete and check
    with it.
    """
    from ..plugins import load_plugins
    from ..schema import config_schema, dumps, manifest_schema

    project = open_project(ctx)
    try:
        plugins = load_plugins(project)
        if editor:
            _write_editor_files(project, plugins)
            return
        text = dumps((config_schema if for_config else manifest_schema)(project, plugins))
    except UserError as e:
        fail(e)
    if out_file is None:
        click.echo(text, nl=False)
        return
    try:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(text, encoding="utf-8")
    except OSError as e:
        fail(UserError(f"{out_file}: cannot write: {e.strerror or e}"))
    click.echo(f"wrote {out_file}", err=True)


def _write_editor_files(project, plugins) -> None:  # type: ignore[no-untyped-def]
    from ..schema import TAPLO_CONFIG, schema_dir, taplo_config, write_schemas

    write_schemas(project, plugins)
    click.echo(f"wrote {project.rel(schema_dir(project))}/")
    taplo = project.root / TAPLO_CONFIG
    if taplo.exists():
        click.echo(f"kept {TAPLO_CONFIG} as it is")
    else:
        taplo.write_text(taplo_config(project), encoding="utf-8")
        click.echo(f"wrote {TAPLO_CONFIG}")


COMMANDS = [schema]
