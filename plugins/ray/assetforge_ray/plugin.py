"""Registers the ``ray`` executor. Importing this module does not import Ray."""

from __future__ import annotations

from assetforge.api import hookimpl

from .executor import RayExecutor


@hookimpl
def register_executors() -> list[RayExecutor]:
    return [RayExecutor()]
