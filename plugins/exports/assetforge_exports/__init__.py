"""Engine-ready exports: sprite atlases (TexturePacker JSON-hash) and Tiled tilesets (.tsx).

Both are asset kinds built by an ``AssetStep`` from other assets' outputs (a many-to-one step):
``[atlas.ID]`` and ``[tileset.ID]``. The pure parts (trim and extrude, packing, the file
writers) import only Pillow, numpy and rectpack, and only when a step runs.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
