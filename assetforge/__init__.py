"""AssetForge: reproducible, incremental builds of AI-generated game assets."""

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402

__all__ = ["__version__", "hookimpl"]
