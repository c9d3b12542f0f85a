"""Terrain sets: two tiling textures in, a Wang corner (16) or blob (47 + 1) autotile set out.

``[terrain.ID]`` is built by an ``AssetStep`` (step.py) from its two terrain images. The pure
parts (layout.py: which tiles and their bits; compose.py: pixels; seams.py: the seam bound;
formats.py: Tiled, Godot 4 and Godot 3 files) import only Pillow and numpy, and only when a
step runs.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
