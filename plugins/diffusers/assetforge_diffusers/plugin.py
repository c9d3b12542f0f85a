"""Entry point of the ``assetforge-diffusers`` plugin (group ``assetforge``, name ``diffusers``).

Kept import-light on purpose: the core loads every plugin to plan a build or print
``--help``, so nothing here (or in ``generator``) imports torch, diffusers or transformers.
"""

from __future__ import annotations

from assetforge.api import AssetSpec, Generator, ManifestKey, Problem, Project, hookimpl

from . import conditions
from .generator import DiffusersGenerator

__all__ = ["DiffusersGenerator", "register_generators", "register_manifest_keys",
           "validate_spec"]


@hookimpl
def register_generators() -> list[Generator]:
    """The diffusers generator: builtin tiny models, diffusers folders, checkpoints, hub ids."""
    return [DiffusersGenerator()]


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """``init_image`` and ``strength`` (img2img), ``control`` (ControlNet)."""
    return conditions.manifest_keys()


@hookimpl
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """strength needs init_image; every control names a valid [controlnets.NAME] table."""
    if not any(k in spec.fields for k in ("init_image", "strength", "control", "views")):
        return None
    return conditions.problems(spec, project) or None
