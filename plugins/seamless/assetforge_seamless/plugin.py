"""The ``seamless`` plugin's hooks: the ``tiling`` key, conv patching, and the seam check.

Manifest::

    [texture.cobblestone]
    prompt = "cobblestone street"
    tiling = "both"          # textures default to "both"; "none", "x" or "y" also work

assetforge.toml::

    [kinds.texture]
    tiling = "none"          # a project can change the texture default

    [plugins.seamless]
    max_seam_score = 2.0     # a tiled asset whose seam score is higher fails its quality check
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from assetforge.api import CheckResult, ManifestKey, Problem, RecipePart, UserError, hookimpl

from . import TILINGS, __version__, tiled_axes

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import AssetSpec, GenerationContext, Job, Project

PLUGIN_NAME = "seamless"
TEXTURE_DEFAULT = "both"
# Tiny-model images score 1.04-1.38 tiled and 2.18-3.62 untiled (seam.py); real models' hard
# seams score far higher. 2.0 fails a clearly visible seam without failing honest tiles.
DEFAULT_MAX_SEAM_SCORE = 2.0
SETTINGS = ("max_seam_score",)


def _check_tiling(value: Any) -> str | None:
    if value not in TILINGS:
        return f"expected one of {', '.join(repr(t) for t in TILINGS)}, got {value!r}"
    return None


def tiling_of(spec: AssetSpec) -> str:
    """The asset's ``tiling`` after kind defaults and expansion ("none" when unset)."""
    return spec.get("tiling") or "none"


def max_seam_score(project: Project) -> float:
    """``[plugins.seamless] max_seam_score``, validated."""
    table = project.plugin_config(PLUGIN_NAME)
    problems = [Problem(project.where("plugins", PLUGIN_NAME, key), f"plugins.{PLUGIN_NAME}.{key}",
                        f"unknown setting (expected {', '.join(SETTINGS)})")
                for key in sorted(set(table) - set(SETTINGS))]
    value = table.get("max_seam_score", DEFAULT_MAX_SEAM_SCORE)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        problems.append(Problem(project.where("plugins", PLUGIN_NAME, "max_seam_score"),
                                f"plugins.{PLUGIN_NAME}.max_seam_score",
                                "expected a number of at least 1 (1 is a perfect tile)"))
    if problems:
        raise UserError(problems)
    return float(value)


def padding_description(tiling: str) -> dict[str, str]:
    """How each axis is padded for ``tiling`` (the recipe's record of it)."""
    axes = tiled_axes(tiling)
    return {axis: "circular" if axis in axes else "zeros" for axis in ("x", "y")}


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """Declare ``tiling``: "none", "x", "y" or "both", for every kind."""
    return [ManifestKey("tiling", (str,),
                        'tileable output: "none", "x" (repeats left-right), "y" (top-bottom) '
                        'or "both"; textures default to "both"', check=_check_tiling,
                        schema={"enum": list(TILINGS)})]


@hookimpl
def expand_spec(spec: AssetSpec, project: Project) -> None:
    """Textures tile on both axes unless the asset or ``[kinds.texture]`` says otherwise."""
    # A file-sourced texture (image = …) tiles only when its tiling says the file does.
    if spec.kind == "texture" and spec.get("tiling") is None and "image" not in spec.fields:
        spec.fields["tiling"] = TEXTURE_DEFAULT


@hookimpl
def recipe_parts(job: Job, project: Project) -> RecipePart | None:
    """Tiled jobs record the tiling and padding; untiled jobs get no part (their key is as
    without this plugin)."""
    tiling = tiling_of(job.spec)
    if tiling == "none":
        return None
    return _recipe_part(tiling)


@functools.cache
def _recipe_part(tiling: str) -> RecipePart:
    """Made once per tiling value (planning asks once per asset); read-only, like recipes."""
    return RecipePart(PLUGIN_NAME, __version__, {
        "tiling": tiling,
        "padding": padding_description(tiling),
        "patched": ["unet.Conv2d", "vae.Conv2d", "ConvTranspose2d", "lora base_layer/lora_A"],
    })


def _refuse_transformer(ctx: GenerationContext, tiling: str) -> None:
    pipe = ctx.pipeline
    spec = ctx.job.spec
    if getattr(pipe, "unet", None) is None and getattr(pipe, "transformer", None) is not None:
        raise UserError([Problem(
            spec.where("tiling"), "tiling",
            f"asset {ctx.job.asset_id!r}: model {ctx.job.model!r} denoises with a transformer "
            f"(SD3-style), which convolution padding cannot make periodic; tiling = {tiling!r} "
            'needs a UNet model (SD 1.x/2.x, SDXL), or set tiling = "none" (textures tile by '
            'default: [kinds.texture] tiling = "none" in assetforge.toml turns that off)')])
    if getattr(pipe, "unet", None) is None and getattr(pipe, "vae", None) is None:
        raise UserError([Problem(
            spec.where("tiling"), "tiling",
            f"asset {ctx.job.asset_id!r}: generator {ctx.generator!r} has no UNet or VAE to "
            f"make tileable; tiling = {tiling!r} is not supported with model {ctx.job.model!r}")])


@contextmanager
def _patched(ctx: GenerationContext, tiling: str) -> Iterator[None]:
    from .padding import AxisModes, circular_padding, denoiser_modules

    axes = tiled_axes(tiling)
    modes = AxisModes(x="x" in axes, y="y" in axes)
    with circular_padding(denoiser_modules(ctx.pipeline), modes) as patches:
        ctx.metrics["seamless_patched_convs"] = len(patches)
        yield
        ctx.metrics["seamless_patched_convs"] = len(patches)  # with any added meanwhile


@hookimpl
def generation_context(ctx: GenerationContext) -> AbstractContextManager[None] | None:
    """Pad the UNet's and VAE's convolutions circularly along the tiled axes while the job is
    generated; restore every layer on exit. Transformer denoisers (SD3) are refused."""
    tiling = tiling_of(ctx.job.spec)
    if tiling == "none":
        return None
    _refuse_transformer(ctx, tiling)
    return _patched(ctx, tiling)


@hookimpl
def quality_checks(image: Image.Image, ctx: GenerationContext) -> list[CheckResult] | None:
    """Score the seam of every tiled asset (recorded in metrics) and fail it over the bound.
    A file-sourced asset's tiling is a declaration about the file: not scored."""
    tiling = tiling_of(ctx.job.spec)
    if tiling == "none" or "image" in ctx.job.spec.fields:
        return None
    from .seam import GRID, grid_for, seam_metrics

    base = int(getattr(ctx.pipeline, "vae_scale_factor", GRID) or GRID)
    metrics = seam_metrics(image, tiled_axes(tiling),
                           grid=grid_for(image.width, ctx.job.width, base))
    ctx.metrics.update(metrics)
    bound = max_seam_score(ctx.project)
    score = metrics["seam_score"]
    ok = score <= bound
    detail = ", ".join(f"{a}: {metrics[f'seam_score_{a}']:.2f}" for a in tiled_axes(tiling))
    message = (f"seam score {score:.2f} ({detail})"
               + ("" if ok else f" is over max_seam_score {bound:g}: the edges will show when "
                                "tiled"))
    return [CheckResult("seam", ok, message, score)]
