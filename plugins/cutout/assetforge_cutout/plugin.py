"""The ``cutout`` plugin's hooks: the ``cutout`` key, its recipe part, the post-processor.

Manifest::

    [character.hero]
    prompt = "a knight, plain green background"
    cutout = "key"                       # colour key from the border, defaults below

    [tile.coin]
    image = "art/coin.png"               # hand-drawn pixel art works the same way
    cutout = { method = "key", tolerance = 0, binary = true, trim = true }

    [character.wizard]
    prompt = "a wizard"
    cutout = { method = "rembg", model = "models/u2net.onnx" }  # needs the rembg extra

The step runs last (order 300, after upscale and pixel art), so alpha is cut from the final
pixels; the output becomes RGBA.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assetforge.api import ManifestKey, PostProcessor, RecipePart, dist_version, hookimpl

from . import __version__
from .config import SCHEMA, check_value, model_path, model_problem, parse, spec_of

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import AssetSpec, GenerationContext, Job, Problem, Project

PLUGIN_NAME = "cutout"
ORDER = 300  # after upscale (100) and pixel art (200): the final pixels get the alpha


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """Declare ``cutout = "key" | {method, tolerance, binary, trim, feather, model}``."""
    return [ManifestKey(
        "cutout", (str, dict),
        'cut the image out to RGBA: "key" (background colour from the border) or a table '
        '{method = "key" | "rembg", tolerance = 32, feather = 1, binary = false, trim = false, '
        'model = "path/to/model.onnx" (rembg)}', check=check_value, schema=SCHEMA)]


@hookimpl
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """For rembg: the library is installed and the model file exists."""
    value = spec.get("cutout")
    if value is None:
        return None
    try:
        cut = parse(value)
    except ValueError:
        return None  # the key's own check reports a malformed value
    problem = model_problem(spec, cut, project)
    return [problem] if problem else None


@hookimpl
def recipe_parts(job: Job, project: Project) -> RecipePart | None:
    """Every parameter; for rembg the model file's content hash and rembg's version (its
    pre- and post-processing of the mask are part of the bytes)."""
    cut = spec_of(job.spec)
    if cut is None:
        return None
    params = cut.params()
    if cut.method == "rembg":
        params["model"] = {"hash": project.hash_file(model_path(job.spec, cut, project)),
                           "session": "u2net_custom"}
        params["rembg"] = dist_version("rembg")
    return RecipePart(PLUGIN_NAME, __version__, params)


def cutout_image(image: Image.Image, ctx: GenerationContext) -> Image.Image:
    """The post-processor: cut ``image`` out as the job's ``cutout`` says; RGBA out."""
    from PIL import Image

    from .matte import key_cutout, mask_cutout, trim_box

    job, project = ctx.job, ctx.project
    cut = spec_of(job.spec)
    if cut is None:
        return image
    if cut.method == "key":
        matte = key_cutout(image, cut.tolerance, cut.feather, cut.binary)
    else:
        from .rembg_mask import predict_mask

        path = model_path(job.spec, cut, project)
        matte = mask_cutout(image, predict_mask(image, path, project.hash_file(path)),
                            cut.binary)
    out = Image.fromarray(matte.rgba, "RGBA")
    ctx.metrics.update({f"cutout_{k}": v for k, v in matte.info.items()})
    if cut.trim:
        box = trim_box(matte.rgba)
        ctx.metrics["cutout_trim_box"] = list(box) if box else None
        ctx.metrics["cutout_untrimmed_size"] = [out.width, out.height]
        if box is not None:
            out = out.crop(box)
    return out


def _applies(job: Job) -> bool:
    return job.spec.get("cutout") not in (None, False)


@hookimpl
def register_postprocessors() -> list[PostProcessor]:
    """One step, order 300."""
    return [PostProcessor(PLUGIN_NAME, ORDER, cutout_image, _applies)]
