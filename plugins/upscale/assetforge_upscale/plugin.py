"""The ``upscale`` plugin's hooks: the ``upscale`` key, its recipe part, the post-processor.

Manifest::

    [texture.cobblestone]
    prompt = "cobblestone street"
    upscale = {factor = 4, model = "models/4x-esrgan.safetensors"}   # or method = "lanczos"

A model's own scale need not equal ``factor``: a ×4 model asked for ×2 runs at ×4 and its output
is resized to ×2 with lanczos (recorded as ``upscale_resized_from_scale`` in the metrics). That is
the usual way to use the common ×4 models for smaller factors; refusing would only push users to
keep a second model file. Tileable assets (``tiling`` other than "none", see the seamless
plugin) are upscaled with wrap-around padding so they stay seamless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assetforge_seamless import tiled_axes

from assetforge.api import (
    ManifestKey,
    PostProcessor,
    RecipePart,
    WeightLicense,
    hookimpl,
    safetensors_license,
)

from . import __version__
from .config import SCHEMA, check_table, model_path, model_problem, parse, settings, spec_of

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import AssetSpec, GenerationContext, Job, Problem, Project

PLUGIN_NAME = "upscale"
ORDER = 100
MIN_WRAP_MARGIN = 8  # wrap context kept even with overlap = 0, so tiles stay seamless


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """Declare ``upscale = {factor, method, model}``."""
    return [ManifestKey(
        "upscale", (dict,),
        'upscale after generating: {factor = 2 or 4, method = "lanczos" | "nearest" | "model", '
        'model = "path/to/model.safetensors" (relative to the project root)}',
        check=check_table, schema=SCHEMA)]


@hookimpl
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """Check the model file: it exists, and is safetensors unless the project allows pickles."""
    value = spec.get("upscale")
    if not value:
        return None
    try:
        up = parse(value)
    except ValueError:
        return None  # the key's own check reports a malformed table
    problem = model_problem(spec, up, project)
    return [problem] if problem else None


def wrap_margin(overlap: int) -> int:
    return max(overlap, MIN_WRAP_MARGIN)


@hookimpl
def weight_licenses(job: Job, project: Project) -> list[WeightLicense] | None:
    """The super-resolution model file, with the table's ``license`` or its header's."""
    up = spec_of(job.spec)
    if up is None or up.model is None:
        return None
    if up.license:
        return [WeightLicense("upscaler", "upscale", up.model, up.license, "manifest upscale")]
    found = safetensors_license(project.resolve_path(up.model))
    return [WeightLicense("upscaler", "upscale", up.model, found,
                          "safetensors metadata" if found else "")]


@hookimpl
def recipe_parts(job: Job, project: Project) -> RecipePart | None:
    """Factor and method; for a model its file's content hash and the tiling settings; the
    axes wrapped for tileable assets."""
    up = spec_of(job.spec)
    if up is None:
        return None
    params: dict[str, Any] = {"factor": up.factor, "method": up.method}
    if up.method == "model":
        s = settings(project)
        params["model"] = {"hash": project.hash_file(model_path(job.spec, up, project)),
                           "scale_mismatch": "lanczos"}
        params["tile"] = s.tile
        params["overlap"] = s.overlap
    axes = tiled_axes(job.spec.get("tiling"))
    if axes and up.method != "nearest":
        params["wrap"] = list(axes)
        if up.method == "model":
            params["wrap_margin"] = wrap_margin(settings(project).overlap)
    return RecipePart(PLUGIN_NAME, __version__, params)


def _seam(image: Image.Image, ctx: GenerationContext, axes: tuple[str, ...]) -> float:
    from assetforge_seamless.seam import GRID, grid_for, seam_score

    base = int(getattr(ctx.pipeline, "vae_scale_factor", GRID) or GRID)
    return round(seam_score(image, axes, grid_for(image.width, ctx.job.width, base)), 4)


def upscale_image(image: Image.Image, ctx: GenerationContext) -> Image.Image:
    """The post-processor: upscale ``image`` as the job's ``upscale`` table says."""
    from PIL import Image

    from .resample import resize

    job, project = ctx.job, ctx.project
    up = spec_of(job.spec)
    if up is None:
        return image
    axes = tiled_axes(job.spec.get("tiling"))
    if axes:
        ctx.metrics["upscale_seam_score_before"] = _seam(image, ctx, axes)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    if up.method != "model":
        out = resize(image, up.factor, up.method, axes)
    else:
        from .model import load_model, resolve_device, upscale_rgb

        path = model_path(job.spec, up, project)
        s = settings(project)
        model = load_model(path, project.hash_file(path),
                           resolve_device(str(project.generation.get("device", "auto"))))
        out, info = upscale_rgb(image.convert("RGB"), model, up.factor, s.tile, s.overlap,
                                axes, wrap_margin(s.overlap))
        ctx.metrics.update(info)
        if image.mode == "RGBA":  # the model sees RGB; alpha is resized alongside
            alpha = resize(image.getchannel("A"), up.factor, "lanczos", axes)
            out = Image.merge("RGBA", (*out.split(), alpha))
    ctx.metrics["upscale_factor"] = up.factor
    ctx.metrics["upscale_method"] = up.method
    if axes:
        ctx.metrics["upscale_seam_score_after"] = _seam(out, ctx, axes)
    return out


def _applies(job: Job) -> bool:
    return bool(job.spec.get("upscale"))


@hookimpl
def register_postprocessors() -> list[PostProcessor]:
    """One step, order 100 (late: after steps that work at generation size)."""
    return [PostProcessor(PLUGIN_NAME, ORDER, upscale_image, _applies)]
