"""PBR maps (normal, height, roughness, ambient occlusion) derived from a finished texture.

Importing this package is cheap: numpy is imported by ``maps``, while a map is made.
"""

from __future__ import annotations

__version__ = "0.1.0"

MAPS = ("normal", "height", "roughness", "ao")

__all__ = ["MAPS", "__version__"]
