"""A sample map painted with a terrain set: what ``review`` shows, and what tests compose.

The cell map (1 = upper) is a few seeded blobs, the same for every build of the same asset;
each cell gets the tile ``layout.cell_tile`` asks for.
"""

from __future__ import annotations

import numpy as np

from .layout import TileDef, cell_tile

SAMPLE_W, SAMPLE_H = 12, 8


def random_cells(width: int, height: int, seed: int, fill: float = 0.5) -> list[list[int]]:
    """Blobby cells: smoothed seeded noise, thresholded at the ``fill`` quantile."""
    rng = np.random.default_rng(seed)
    raw = rng.random((height + 2, width + 2))
    smooth = (raw[1:-1, 1:-1] * 2 + raw[:-2, 1:-1] + raw[2:, 1:-1] + raw[1:-1, :-2]
              + raw[1:-1, 2:])
    cut = np.quantile(smooth, 1 - fill)
    return (smooth >= cut).astype(int).tolist()


def paint(cells: list[list[int]], tiles: list[TileDef], layout: str) -> list[list[int]]:
    """Index into ``tiles`` of the tile each cell needs."""
    index = {t: i for i, t in enumerate(tiles)}
    return [[index[cell_tile(cells, x, y, layout)] for x in range(len(cells[0]))]
            for y in range(len(cells))]


def compose_map(indices: list[list[int]], images: list[np.ndarray]) -> np.ndarray:
    """One image of the map: each cell's tile pixels."""
    size = images[0].shape[0]
    rows = [np.concatenate([images[i] for i in row], axis=1) for row in indices]
    out = np.concatenate(rows, axis=0)
    assert out.shape[:2] == (len(indices) * size, len(indices[0]) * size)
    return out
