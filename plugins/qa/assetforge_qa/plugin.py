"""The ``qa`` plugin's hooks: settings validation and the quality checks.

Checks: ``blank`` (flat image), ``duplicate`` (perceptual hash near another output),
``cutout`` (RGBA: almost nothing opaque, or an opaque border), ``palette`` (more colours than
a pixel-art palette allows) and ``safety`` (a classifier). See ``config.py`` for settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assetforge.api import CheckResult, hookimpl

from .config import problems, settings

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import AssetSpec, GenerationContext, Problem, Project

_VALIDATED: dict[str, list[Problem]] = {}  # config text -> its problems (once per config)
_LAST: list[Any] = [None, None]  # the config dict last checked, and its problems


@hookimpl
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """Report mistakes in ``[plugins.qa]`` (once: identical problems are merged)."""
    if _LAST[0] is not project.config:  # planning asks once per asset: check once per load
        key = f"{project.config_path}:{project.plugin_config('qa')!r}"
        if key not in _VALIDATED:
            _VALIDATED[key] = problems(project)
        _LAST[:] = [project.config, _VALIDATED[key]]
    return _LAST[1] or None


def _palette_limit(ctx: GenerationContext, max_colors: int, kinds: list[str]) -> int | None:
    pixel_art = ctx.job.spec.get("pixel_art")
    if isinstance(pixel_art, dict) and isinstance(pixel_art.get("colors"), int):
        return int(pixel_art["colors"])
    if max_colors and (not kinds or ctx.job.kind in kinds):
        return max_colors
    return None


@hookimpl
def quality_checks(image: Image.Image, ctx: GenerationContext) -> list[CheckResult] | None:
    """Every enabled check, each with its configured severity."""
    from . import checks  # numpy: only when an image is judged, never while planning

    s = settings(ctx.project)
    out: list[CheckResult] = []

    def add(name: str, verdict: tuple[bool, float, str] | None) -> None:
        if verdict is not None:
            ok, value, message = verdict
            out.append(CheckResult(f"qa.{name}", ok, message, value, s.severity(name)))

    if s.severity("blank") != "off":
        add("blank", checks.blank(image, float(s.get("blank", "min_std"))))
    if s.severity("cutout") != "off":
        add("cutout", checks.cutout(image, float(s.get("cutout", "min_opaque")),
                                    float(s.get("cutout", "max_border_opaque"))))
    if s.severity("palette") != "off":
        limit = _palette_limit(ctx, int(s.get("palette", "max_colors")),
                               list(s.get("palette", "kinds")))
        if limit:
            add("palette", checks.palette(image, limit))
    if s.severity("duplicate") != "off":
        from .duplicates import nearest

        bound = int(s.get("duplicate", "max_distance"))
        found = nearest(image, ctx.project, ctx.project.output_dir / ctx.job.output, bound)
        if found is None:
            add("duplicate", (True, float(bound + 1), f"no output within {bound} bits"))
        else:
            rel, dist = found
            add("duplicate", (False, float(dist), f"nearest output {rel}: {dist} bits apart "
                              f"(max_distance {bound}): a near-duplicate"))
    if s.severity("safety") != "off":
        from .safety import score

        labels = [str(x) for x in s.get("safety", "labels")]
        value, label = score(image, ctx.project, ctx.job.model,
                             str(s.get("safety", "classifier")), labels)
        bound = float(s.get("safety", "threshold"))
        add("safety", (value < bound, value, f"{label} score {value:.2f}"
                       + ("" if value < bound else f" is at or over threshold {bound:g}")))
    return out or None
