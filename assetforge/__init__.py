"""AssetForge: reproducible, incremental builds of AI-generated game assets."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    # ``assetforge.hookimpl`` on first use: a no-op build answered by its stamp imports no
    # pluggy (see noopstamp.py)
    if name == "hookimpl":
        from .hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'assetforge' has no attribute {name!r}")
