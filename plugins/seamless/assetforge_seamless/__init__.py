"""Seamless (tileable) images: circular convolution padding while generating, seam scores after.

``tiling`` is ``"none"``, ``"x"`` (repeats left-right), ``"y"`` (repeats top-bottom) or
``"both"``. Importing this package is cheap: torch is imported only by ``padding``.
"""

from __future__ import annotations

__version__ = "0.1.0"

TILINGS = ("none", "x", "y", "both")


def tiled_axes(tiling: str | None) -> tuple[str, ...]:
    """The axes a ``tiling`` value wraps around: ``"both"`` -> ``("x", "y")``."""
    return {"x": ("x",), "y": ("y",), "both": ("x", "y")}.get(tiling or "none", ())


__all__ = ["TILINGS", "__version__", "tiled_axes"]
