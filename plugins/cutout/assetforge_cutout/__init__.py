"""Cut images out to real alpha: a colour key flood-filled from the border, or rembg.

Importing this package is cheap: numpy/scipy are imported by ``key``/``matte`` and rembg only
by ``rembg_mask``, while an image is processed.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
