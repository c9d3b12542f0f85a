"""Upscaling as a post-processing step: lanczos, nearest, or a super-resolution model.

Models load through spandrel (ESRGAN and the other architectures it detects). Tileable assets
are upscaled with wrap-around padding so they stay seamless. Importing this package is cheap:
torch and spandrel are imported only by ``model``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
