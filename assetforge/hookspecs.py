"""Every hook a plugin can implement. Each one is documented in docs/plugins.md.

Implement a hook with ``@assetforge.hookimpl`` in a module registered under the ``assetforge``
entry-point group, or in a ``.py`` file in the project's plugin folder.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from PIL import Image

    from .errors import Problem
    from .executors import Executor
    from .interfaces import (
        AssetKind,
        AssetSpec,
        CheckResult,
        DerivedStep,
        GenerationContext,
        Generator,
        Job,
        ManifestKey,
        PostProcessor,
        RecipePart,
        WeightLicense,
    )
    from .project import Project

hookspec = pluggy.HookspecMarker("assetforge")
hookimpl = pluggy.HookimplMarker("assetforge")



def for_keys(*keys: str) -> Any:
    """Mark a ``validate_spec``, ``expand_spec`` or ``recipe_parts`` implementation as having
    nothing to do for an asset whose fields (kind defaults included) hold none of ``keys``:
    the core then does not call it for that asset, so a plugin a project never uses costs
    nothing per asset. Use it only when that is true: the call is skipped, not checked.

        @hookimpl
        @for_keys("cutout")
        def recipe_parts(job, project): ...
    """
    def mark(function: Any) -> Any:
        function.assetforge_keys = frozenset(keys)
        return function
    return mark


@hookspec
def register_generators() -> list[Generator]:
    """Return generator backends (objects following ``interfaces.Generator``).

    A model table is served by the first generator whose ``handles(model)`` is true.
    """


@hookspec
def register_asset_kinds() -> list[AssetKind]:
    """Return asset kinds: the manifest table names (``[texture.ID]``) and their defaults."""


@hookspec
def register_manifest_keys() -> list[ManifestKey]:
    """Return the manifest keys this plugin adds, with their types.

    Validation accepts only declared keys and suggests the nearest one for a typo.
    """


@hookspec
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """Check one asset's plugin keys beyond their types (a style that does not exist, …).

    Return problems located with ``spec.where(key)``; they are reported with manifest errors
    and nothing is generated.
    """


@hookspec
def expand_spec(spec: AssetSpec, project: Project) -> None:
    """Change ``spec.fields`` in place before recipes are made (prompt composition).

    Runs after kind defaults and before views are split into jobs. Must be deterministic and
    torch-free: planning calls it for every asset.
    """


@hookspec
def recipe_parts(job: Job, project: Project) -> RecipePart | list[RecipePart] | None:
    """Return what this plugin contributes to ``job``'s recipe: name, version, parameters.

    Every plugin that changes output bytes must return a part for the jobs it affects, with
    the content hash of any file it reads; otherwise the cache would serve stale images.
    """


@hookspec
def generation_context(ctx: GenerationContext) -> AbstractContextManager[None] | None:
    """Return a context manager entered around the generator call for ``ctx.job``.

    Use it to change the pipeline (load adapters, patch layers) and to restore it on exit, so
    the next asset is byte-identical to being built alone.
    """


@hookspec
def register_postprocessors() -> list[PostProcessor]:
    """Return image post-processing steps; all steps of all plugins run by ascending ``order``."""


@hookspec
def register_derived_outputs() -> list[DerivedStep]:
    """Return steps that make more files from a job's finished image (PBR maps, …).

    Each file is a build output of its own: its recipe is the step's name, version and
    parameters plus the hash of the source image on disk, so it is cached and restored.
    """


@hookspec
def quality_checks(image: Image.Image, ctx: GenerationContext) -> list[CheckResult] | None:
    """Judge a finished image. A failed check of severity ``fail`` fails the asset (its
    output is not written); a ``warn`` is recorded and shown, and the asset is kept."""


@hookspec
def weight_licenses(job: Job, project: Project) -> list[WeightLicense] | None:
    """Return the weight files this plugin uses for ``job`` (model, LoRA, upscaler…) and the
    licence of each: declared (``license = "…"``), or read from the weights
    (``safetensors_license``, ``front_matter_license``). Recorded with every generation and
    checked against ``[policy]``. Torch-free: called while planning when a policy is set.
    """


@hookspec
def watch_paths(project: Project) -> list[Path] | None:
    """Return extra files or folders whose changes should trigger a re-plan in ``watch``."""


@hookspec
def register_executors() -> list[Executor]:
    """Return executors: where stale jobs are rendered (``[executor] name`` in assetforge.toml,
    ``build --executor NAME``; the built-in one is ``local``).

    An executor's ``start(project, options, render)`` returns a session for the build; the
    session's ``run(jobs)`` renders a batch of independent jobs and yields a ``Rendered``
    (PNG bytes or an error, metrics, device, time, environment) per job as each finishes. The
    driver writes every output, fills the object store and writes every record. Creating an
    executor must be cheap: import heavy libraries (ray, …) in ``start``.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``assetforge`` command-line group."""


def hook_names() -> list[str]:
    """Names of all hooks defined here, in definition order."""
    return [name for name, obj in globals().items()
            if callable(obj) and hasattr(obj, "assetforge_spec")]


__all__ = ["hookimpl", "hookspec", "hook_names", "for_keys", "Any"]
