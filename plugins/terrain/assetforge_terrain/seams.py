"""The seam bound of a terrain set (DESIGN.md "Terrain sets", seam ratio).

Tiles as float RGB 0–255 (alpha ignored), size N. For A left of B:
``cross = mean |A[:, N-1] - B[:, 0]|``, ``inside(X) = mean over x < N-1 of |X[:, x+1] - X[:, x]|``,
``ratio = cross / max((inside(A) + inside(B)) / 2, 1.0)``; rows likewise for A above B.
A set passes when every allowed pair, in both directions, has ratio <= ``BOUND``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layout import TileDef, allowed_pairs

BOUND = 1.5


def _rgb(tile: np.ndarray) -> np.ndarray:
    return np.asarray(tile, dtype=np.float64)[..., :3]


def inside(tile: np.ndarray, horizontal: bool) -> float:
    t = _rgb(tile)
    d = t[:, 1:] - t[:, :-1] if horizontal else t[1:, :] - t[:-1, :]
    return float(np.abs(d).mean())


def ratio(a: np.ndarray, b: np.ndarray, horizontal: bool) -> float:
    """The seam ratio of ``b`` right of ``a`` (horizontal) or ``b`` below ``a``."""
    ta, tb = _rgb(a), _rgb(b)
    if horizontal:
        cross = float(np.abs(ta[:, -1] - tb[:, 0]).mean())
    else:
        cross = float(np.abs(ta[-1, :] - tb[0, :]).mean())
    return cross / max((inside(a, horizontal) + inside(b, horizontal)) / 2, 1.0)


@dataclass(frozen=True)
class SeamReport:
    pairs: int
    worst: float
    worst_pair: tuple[int, int, str] | None

    @property
    def ok(self) -> bool:
        return self.worst <= BOUND


def check_set(images: list[np.ndarray], tiles: list[TileDef], layout: str) -> SeamReport:
    """The largest ratio over every allowed pair of the set (both directions: each ordered
    pair is one direction across its shared border)."""
    pairs = allowed_pairs(tiles, layout)
    inner = {(i, h): inside(images[i], h) for i in range(len(images)) for h in (True, False)}
    worst, at = 0.0, None
    for i, j, d in pairs:
        h = d == "h"
        a, b = _rgb(images[i]), _rgb(images[j])
        cross = float(np.abs(a[:, -1] - b[:, 0]).mean() if h else np.abs(a[-1] - b[0]).mean())
        r = cross / max((inner[i, h] + inner[j, h]) / 2, 1.0)
        if r > worst:
            worst, at = r, (i, j, d)
    return SeamReport(len(pairs), worst, at)


def map_seams(tile_map: list[list[np.ndarray]]) -> float:
    """The largest ratio over every shared border of a map composed of tile images."""
    worst = 0.0
    for y, row in enumerate(tile_map):
        for x, tile in enumerate(row):
            if x + 1 < len(row):
                worst = max(worst, ratio(tile, row[x + 1], True))
            if y + 1 < len(tile_map):
                worst = max(worst, ratio(tile, tile_map[y + 1][x], False))
    return worst
