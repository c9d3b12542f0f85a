"""Entry point of the ``assetforge-diffusers`` plugin (group ``assetforge``, name ``diffusers``).

Kept import-light on purpose: the core loads every plugin to plan a build or print
``--help``, so nothing here (or in ``generator``) imports torch, diffusers or transformers.
"""

from __future__ import annotations

from assetforge.api import Generator, hookimpl

from .generator import DiffusersGenerator

__all__ = ["DiffusersGenerator", "register_generators"]


@hookimpl
def register_generators() -> list[Generator]:
    """The diffusers generator: builtin tiny models, diffusers folders, checkpoints, hub ids."""
    return [DiffusersGenerator()]
