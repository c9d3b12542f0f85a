"""Animation frames that stay put: each cut-out frame is shifted so its anchor — the alpha
mass of the lowest part of the figure, on the feet line — sits at the same point.

Importing this package is cheap: numpy is imported by ``anchor``, while a frame is aligned.
"""

from __future__ import annotations

__version__ = "0.1.0"
FOOT_BAND = 0.15  # of the figure's height: its lowest part
ALPHA_MIN = 128  # a pixel counts as part of the figure from this alpha
METHOD = "feet-mass-v1"

__all__ = ["ALPHA_MIN", "FOOT_BAND", "METHOD", "__version__"]
