"""Entry point of the ``assetforge-diffusers`` plugin (group ``assetforge``, name ``diffusers``).

Kept import-light on purpose: the core loads every plugin to plan a build or print
``--help``, so nothing here (or in ``generator``) imports torch, diffusers or transformers.
"""

from __future__ import annotations

from assetforge.api import (
    AssetSpec,
    Generator,
    Job,
    ManifestKey,
    ModelConfig,
    Problem,
    Project,
    WeightLicense,
    for_keys,
    hookimpl,
    job_frame,
)

from . import conditions, controlnets, memory, motion
from .generator import DiffusersGenerator
from .identity import model_license

__all__ = ["DiffusersGenerator", "register_generators", "register_manifest_keys",
           "validate_spec", "weight_licenses"]


@hookimpl
def register_generators() -> list[Generator]:
    """The diffusers generator: builtin tiny models, diffusers folders, checkpoints, hub ids."""
    return [DiffusersGenerator()]


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """``init_image`` and ``strength`` (img2img), ``control`` (ControlNet)."""
    return conditions.manifest_keys()


@hookimpl
@for_keys("init_image", "strength", "control", "views", "animations", "tiling")
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """strength needs init_image; every control names a valid [controlnets.NAME] table;
    seamless tiling is refused on a model that decodes with VAE tiling."""
    found = _tiling_problems(spec, project)
    if not any(k in spec.fields for k in ("init_image", "strength", "control", "views",
                                          "animations")):
        return found or None
    return (found + conditions.problems(spec, project)
            + motion.spec_problems(spec, project)) or None


def _tiling_problems(spec: AssetSpec, project: Project) -> list[Problem]:
    tiling = spec.get("tiling")
    if not tiling or tiling == "none":
        return []
    model = spec.get("model") or project.default_model or ""
    if not memory.vae_tiling_models(project).get(model):
        return []
    return [Problem(spec.where("tiling"), "tiling",
                    f"tiling = {tiling!r} cannot be made with model {model!r}: it decodes with "
                    "VAE tiling (vae_tiling or its memory mode in "
                    f"{project.config_path.name}), which decodes overlapping tiles and blends "
                    "their edges, so the image no longer wraps around; set vae_tiling = false "
                    'on that model, or tiling = "none" here')]


@hookimpl
def weight_licenses(job: Job, project: Project) -> list[WeightLicense] | None:
    """The job's model and ControlNets: ``license`` in their ``[models.NAME]`` /
    ``[controlnets.NAME]`` tables, else read from their files (a checkpoint's safetensors
    metadata, a folder's README.md front matter)."""
    model = project.models.get(job.model)
    if model is None:
        return None
    found = [model_license(model, project)]
    tables = controlnets.tables(project)
    for name in dict.fromkeys(c.model for c in conditions.of_job(job).controls):
        table = tables.get(name)
        if isinstance(table, dict) and isinstance(table.get("source"), str):
            cfg = ModelConfig(name, table["source"],
                              {k: v for k, v in table.items() if k != "source"})
            found.append(model_license(cfg, project, role="controlnet", table="controlnets"))
    frame = job_frame(job) if job.spec.animations else None
    if frame is not None and frame[0].motion:
        found += motion.weight_licenses(project, frame[0].motion)
        if frame[0].control:  # the poses' ControlNet, read by the AnimateDiff call
            name = frame[0].control["model"]
            table = tables.get(name)
            if isinstance(table, dict) and isinstance(table.get("source"), str):
                cfg = ModelConfig(name, table["source"],
                                  {k: v for k, v in table.items() if k != "source"})
                found.append(model_license(cfg, project, role="controlnet",
                                           table="controlnets"))
    return found
