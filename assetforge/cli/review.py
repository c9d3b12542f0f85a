"""Commands for people judging outputs: review, sheet, pick, licenses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import UserError
from .common import EXIT_FAILED, EXIT_OK, emit, fail, open_project


def _specs(project: Any) -> list[Any]:
    from ..manifest import load_specs
    from ..plugins import load_plugins

    return load_specs(project, load_plugins(project))


@click.command()
@click.option("--base", metavar="REF", help="A git revision whose committed outputs to compare "
              "with (default: each output's record before the last build).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the HTML review (default: .assetforge/review).")
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default="html",
              show_default=True, help="html writes the folder; md and json print to stdout.")
@click.option("--link", help="Where the markdown links point (default: OUT/index.html).")
@click.pass_context
def review(ctx: click.Context, base: str | None, out_dir: Path | None, fmt: str,
           link: str | None) -> None:
    """Review what changed: new, changed and removed outputs, why, and QA results.

    The HTML folder (index.html + images) works from file:// with no network: side by side,
    swipe, onion skin and a difference image per changed output.
    """
    from ..review import make_review, write_html
    from ..review.markdown import render

    project = open_project(ctx)
    try:
        specs = _specs(project)
        ids = {s.id for s in specs}
        result = make_review(project, ids, base)
    except UserError as e:
        fail(e)
    if fmt == "html" and any(s.animations for s in specs):
        from ..plugins import load_plugins
        from ..review.animated import review_animations

        folders = {k: kind.output_dir for k, kind in load_plugins(project).asset_kinds().items()}
        result.animations = review_animations(specs, {it.key for it in result.items},
                                              project.output_dir, folders)
    folder = (out_dir or project.state_dir / "review").resolve()
    if fmt == "json":
        emit(result.as_dict())
        return
    if fmt == "md":
        click.echo(render(result, link or f"{_shown(folder)}/index.html"), nl=False)
        return
    index = write_html(result, folder, f"{project.name}: asset review")
    c = result.counts()
    click.echo(f"{c['new']} new, {c['changed']} changed, {c['removed']} removed, "
               f"{c['unchanged']} unchanged; QA: {c['failures']} failed, {c['warnings']} "
               f"warnings")
    click.echo(f"wrote {index}")


def _shown(folder: Path) -> str:
    try:
        return folder.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return folder.as_posix()


@click.command()
@click.argument("asset_ids", nargs=-1)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("contact-sheet.png"), show_default=True, help="The PNG to write.")
@click.option("--size", default=128, show_default=True, help="Thumbnail size in pixels.")
@click.pass_context
def sheet(ctx: click.Context, asset_ids: tuple[str, ...], out_file: Path, size: int) -> None:
    """One contact-sheet PNG of the outputs (all, or ASSET_IDS), ids under each thumbnail."""
    from ..plan import select
    from ..review.sheet import contact_sheet

    project = open_project(ctx)
    try:
        specs = select(_specs(project), list(asset_ids) or None)
        from ..engine import Builder

        plan = Builder(project).plan([s.id for s in specs], adopt=False)
    except UserError as e:
        fail(e)
    tiles: list[tuple[str, Any]] = []
    for a in plan.assets:
        tiles += [(jp.job.job_id, project.output_dir / jp.job.output) for jp in a.jobs]
        for anim in (a.spec.animations or {}).values():  # the animation after its frames
            frames = [project.output_dir / jp.job.output for jp in a.jobs
                      if jp.job.view in anim.frames]
            if frames and all(p.is_file() for p in frames):
                from ..review.animated import play_order

                tiles.append((f"{a.id}/{anim.name} (anim)", [frames[i] for i in
                                                         play_order(len(frames), anim.loop)]))
    missing = [label for label, path in tiles if isinstance(path, Path) and not path.is_file()]
    try:
        made, skipped = contact_sheet([(label, path) for label, path in tiles
                                       if isinstance(path, list) or path.is_file()],
                                      out_file, size)
    except OSError as e:
        fail(UserError(f"{out_file}: cannot write the contact sheet: {e.strerror or e}"))
    click.echo(f"wrote {out_file} ({made} thumbnails)")
    if skipped:
        click.echo(f"skipped (not an image): {', '.join(skipped)}", err=True)
    if missing:
        click.echo(f"not built yet: {', '.join(missing)}", err=True)


@click.command()
@click.argument("asset_id")
@click.argument("index", type=int)
@click.pass_context
def pick(ctx: click.Context, asset_id: str, index: int) -> None:
    """Write seed candidate INDEX of ASSET_ID into its manifest (comments kept)."""
    from ..review.pick import pick_candidate

    project = open_project(ctx)
    try:
        spec = next((s for s in _specs(project) if s.id == asset_id), None)
        if spec is None:
            raise UserError(f"unknown asset {asset_id!r}")
        seed = pick_candidate(project, spec, index)
    except UserError as e:
        fail(e)
    click.echo(f"{asset_id}: seed = {seed} (candidate {index}) written to "
               f"{project.rel(spec.source.path)}; 'assetforge build' restores it from the cache")


@click.command("licenses")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def licenses_cmd(ctx: click.Context, as_json: bool) -> None:
    """Per shipped output, every weight file that made it and its licence."""
    from ..engine import Builder
    from ..licenses import Policy, report

    project = open_project(ctx)
    try:
        builder = Builder(project)
        plan = builder.plan(adopt=False)
        shipped = report(project, builder.plugins, plan)
    except UserError as e:
        fail(e)
    policy_errors = [f"{jp.job.job_id}: {jp.reason}" for jp in plan.jobs()
                     if jp.error_plugin == "policy"]
    if as_json:
        emit({"outputs": [s.as_dict() for s in shipped], "policy_errors": policy_errors})
    else:
        policy = Policy.of(project)
        for s in shipped:
            click.echo(f"{s.job}  {s.output}")
            for lic in s.licenses + s.inherited:
                via = f"  (via {lic['via']})" if lic.get("via") else ""
                bad = " ✖" if policy.violation(_as_license(lic)) else ""
                click.echo(f"    {lic['role']:<9} {lic['file']}: {lic['license'] or 'unknown'}"
                           f"{' [' + lic['source'] + ']' if lic.get('source') else ''}{via}{bad}")
        for e in policy_errors:
            click.echo(f"error: {e}", err=True)
    sys.exit(EXIT_FAILED if policy_errors else EXIT_OK)


def _as_license(d: dict[str, Any]) -> Any:
    from ..interfaces import WeightLicense

    return WeightLicense(d["role"], d["name"], d["file"], d.get("license"), d.get("source", ""))


COMMANDS = [review, sheet, pick, licenses_cmd]
