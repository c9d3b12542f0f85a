"""Entry point of the ``assetforge-diffusers`` plugin (group ``assetforge``, name ``diffusers``).

Kept import-light on purpose: the core loads every plugin to plan a build or print
``--help``, so nothing here (or in ``generator``) imports torch, diffusers or transformers.
"""

from __future__ import annotations

from assetforge.api import Generator, Job, Project, WeightLicense, hookimpl

from .generator import DiffusersGenerator
from .identity import model_license

__all__ = ["DiffusersGenerator", "register_generators", "weight_licenses"]


@hookimpl
def register_generators() -> list[Generator]:
    """The diffusers generator: builtin tiny models, diffusers folders, checkpoints, hub ids."""
    return [DiffusersGenerator()]


@hookimpl
def weight_licenses(job: Job, project: Project) -> list[WeightLicense] | None:
    """The job's model: ``license`` in its ``[models.NAME]`` table, else read from its files
    (a checkpoint's safetensors metadata, a folder's README.md front matter)."""
    model = project.models.get(job.model)
    if model is None:
        return None
    return [model_license(model, project)]
