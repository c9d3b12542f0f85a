"""The seam bound (DESIGN.md "Terrain sets"): every allowed pair of tiles, both directions,
for both layouts; and a deliberately broken set fails the same measurement.

Sets built with a transition are measured in test_terrain_build.py (they need the model)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from assetforge_terrain import compose, layout, seams
from PIL import Image
from terrain_kit import tiling_texture


def terrain(seed: int, size: int, source: int = 96) -> np.ndarray:
    with Image.open(io.BytesIO(tiling_texture(source, seed))) as im:
        return compose.fit_tiling(im, size, nearest=False)


def built(name: str, size: int, seed: int = 3) -> tuple[list[np.ndarray], list[layout.TileDef]]:
    tiles = layout.tiles_of(name)
    images, _ = compose.compose(terrain(1, size), terrain(2, size), tiles, name, seed)
    return [compose.to_uint8(i).astype(np.float64) for i in images], tiles


def test_ratio_matches_the_definition():
    a = np.zeros((4, 4, 4))
    a[:, :, :3] = np.arange(4)[None, :, None] * 10.0  # inside steps of 10 along x
    b = a.copy()
    b[:, :, :3] += 40  # b's first column is 40 above a's last (30): cross 10 + 40 - 30 = 40
    assert seams.inside(a, True) == pytest.approx(10.0)
    assert seams.ratio(a, b, True) == pytest.approx(abs(40 - 30) / 10.0)
    # alpha is ignored, and the divisor never goes below 1
    flat = np.zeros((4, 4, 4))
    flat[..., 3] = 255
    other = flat.copy()
    other[:, 0, 0] = 3.0
    assert seams.ratio(flat, other, True) == pytest.approx(1.0)


@pytest.mark.parametrize("name", layout.LAYOUTS)
@pytest.mark.parametrize("size", [32, 64])
def test_every_allowed_pair_is_within_the_bound(name, size):
    images, tiles = built(name, size)
    pairs = layout.allowed_pairs(tiles, name)
    worst = max(seams.ratio(images[i], images[j], d == "h") for i, j, d in pairs)
    assert worst <= seams.BOUND, worst
    report = seams.check_set(images, tiles, name)
    assert report.ok and report.worst == pytest.approx(worst)
    assert report.pairs == len(pairs) and {d for *_ij, d in pairs} == {"h", "v"}


@pytest.mark.parametrize("name", layout.LAYOUTS)
def test_plain_tiles_are_the_terrain_images(name):
    size = 32
    lower, upper = terrain(1, size), terrain(2, size)
    tiles = layout.tiles_of(name)
    images, _ = compose.compose(lower, upper, tiles, name, 3)
    full = max(range(len(tiles)), key=lambda i: (tiles[i].centre, bin(tiles[i].mask).count("1")))
    assert np.array_equal(images[0], lower)
    assert np.array_equal(images[full], upper)


@pytest.mark.parametrize("name", layout.LAYOUTS)
def test_corner_regions_show_their_terrain(name):
    size = 32
    lower, upper = terrain(1, size), terrain(2, size)
    tiles = layout.tiles_of(name)
    images, masks = compose.compose(lower, upper, tiles, name, 3)
    k = size // 8  # well inside the corner plateau
    top, left, bottom, right = slice(0, k), slice(0, k), slice(-k, None), slice(-k, None)
    spots = {layout.NW: (top, left), layout.NE: (top, right), layout.SW: (bottom, left),
             layout.SE: (bottom, right)}
    for tile, mask in zip(tiles, masks, strict=True):
        for bit, where in spots.items():
            assert np.all(mask[where] == tile.has(bit)), (tile, bit)


@pytest.mark.parametrize("name", layout.LAYOUTS)
def test_a_broken_set_fails(name):
    images, tiles = built(name, 32)
    # one tile's right border replaced by the other terrain's pixels: its neighbours seam
    victim = next(i for i, t in enumerate(tiles) if not t.has(layout.NE) and not t.has(layout.SE))
    broken = [i.copy() for i in images]
    broken[victim][:, -2:, :3] = 255 - broken[victim][:, -2:, :3]
    report = seams.check_set(broken, tiles, name)
    assert not report.ok and report.worst_pair is not None
    assert victim in report.worst_pair[:2]


def test_a_map_composed_from_the_set_has_no_seam():
    from assetforge_terrain import sample

    for name in layout.LAYOUTS:
        images, tiles = built(name, 32)
        cells = sample.random_cells(16, 12, 9)
        indices = sample.paint(cells, tiles, name)
        grid = [[images[i] for i in row] for row in indices]
        assert seams.map_seams(grid) <= seams.BOUND
