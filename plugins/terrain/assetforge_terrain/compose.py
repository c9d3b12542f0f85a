"""The pixels of a terrain set: every tile blended from the two terrain images by a mask.

Why the seams are right by construction:
* both terrain images are resized so they tile at the tile size (the resize wraps around);
* the blend noise is periodic at the tile size and the same for every tile;
* a tile's terrain field is a tensor-product blend of a 3×3 grid of labels (corners, sides,
  centre) with weights that are constant in a strip of ``STRIP`` × N along each border: there
  the field depends only on that border's three labels (corner, side, corner), which the two
  tiles on either side share whenever the set's rules let them touch.
So the pixels along a border of one tile continue those of any allowed neighbour exactly like
neighbouring columns inside one tile. Corner regions show their label's terrain; the all-lower
and all-upper tiles are the terrain images themselves. Only the interior (away from the strips)
is ever repainted (transition.py).
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from .layout import ALGORITHM, NE, NW, SE, SW, TileDef

__all__ = ["ALGORITHM", "compose", "fit_tiling", "sheet"]

STRIP = 0.25  # fraction of the tile along each border where the field is border-only
NOISE_AMP = 0.5  # how far the noise moves the edge between the terrains
SHARPNESS = 6.0  # slope of the blend: higher is a harder edge
NOISE_WAVES = 12


def seed_of(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def fit_tiling(img: Image.Image, size: int, nearest: bool) -> np.ndarray:
    """``img`` (RGBA) resized to size × size so that it still tiles, then cut where it is
    calmest (``calm_cut``). The resize works on a 3×3 mosaic of the image, resized to 3·size,
    keeping the middle: the filter sees the wrapped neighbours at the edges."""
    rgba = img.convert("RGBA")
    if rgba.size != (size, size):
        w, h = rgba.size
        mosaic = Image.new("RGBA", (3 * w, 3 * h))
        for i in range(3):
            for j in range(3):
                mosaic.paste(rgba, (i * w, j * h))
        flt = Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS
        rgba = mosaic.resize((3 * size, 3 * size), flt).crop((size, size, 2 * size, 2 * size))
    return calm_cut(np.asarray(rgba, dtype=np.float64))


def calm_cut(img: np.ndarray) -> np.ndarray:
    """The tiling image shifted (a whole-pixel roll: still the same texture when tiled) so
    that its wrap-around column and row are the calmest of all: the tile border, where every
    neighbouring tile's pixels meet, then steps no more than the quietest step inside."""
    rgb = np.rint(img[..., :3])  # what is written decides the steps
    cols = np.abs(rgb - np.roll(rgb, 1, axis=1)).mean(axis=(0, 2))  # step into column x
    rows = np.abs(rgb - np.roll(rgb, 1, axis=0)).mean(axis=(1, 2))
    x, y = int(np.argmin(cols)), int(np.argmin(rows))
    return np.roll(img, (-y, -x), axis=(0, 1))


def _waves(size: int, rng: np.random.Generator, two_d: bool) -> np.ndarray:
    """Smooth noise in [0, 1], exactly periodic at ``size`` (integer-frequency waves); a 1-D
    noise (``two_d`` false) varies along x only."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    out = np.zeros((size, size))
    for _ in range(NOISE_WAVES):
        fx, fy = rng.integers(-4, 5, size=2)
        if not two_d:
            fy = 0
        if fx == 0 and fy == 0:
            fx = 1
        phase = rng.uniform(0, 2 * np.pi)
        out += np.cos(2 * np.pi * (fx * xx + fy * yy) / size + phase) / np.hypot(fx, fy)
    lo, hi = out.min(), out.max()
    return (out - lo) / (hi - lo) if hi > lo else np.full((size, size), 0.5)


def periodic_noise(size: int, seed: int) -> np.ndarray:
    """The blend noise of every tile: 2-D inside; in the strip along a border it varies only
    along that border, so the mask does not change across a border (where a seam is
    measured) any faster than the textures do."""
    rng = np.random.default_rng(seed)
    two = _waves(size, rng, True)
    one = _waves(size, rng, False)  # one[y, x] depends on x
    w = weights(size)
    edge = w[0] + w[2]  # 1 in the strips along the two borders of an axis
    sx, sy = edge[None, :], edge[:, None]  # near a vertical / horizontal border
    return sx * one.T + (1 - sx) * (sy * one + (1 - sy) * two)


def _smooth(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def weights(size: int) -> np.ndarray:
    """(3, size): weights of label columns 0, 1, 2 at each pixel centre; w0 = 1 in the first
    strip, w2 = 1 in the last, w1 = 1 at the middle; they sum to 1."""
    u = (np.arange(size) + 0.5) / size
    w0 = 1 - _smooth((u - STRIP) / (0.5 - STRIP))
    w0[u >= 0.5] = 0.0
    w2 = w0[::-1].copy()
    return np.stack([w0, 1 - w0 - w2, w2])


def labels(tile: TileDef, layout: str) -> np.ndarray:
    """3×3 labels [row][col] (1 = upper). Corner sets label a side with the mean of its two
    corners and the centre with the mean of all four."""
    g = np.zeros((3, 3))
    corners = {NW: (0, 0), NE: (0, 2), SW: (2, 0), SE: (2, 2)}
    for bit, (r, c) in corners.items():
        g[r, c] = tile.has(bit)
    sides = {(0, 1): (NW, NE), (2, 1): (SW, SE), (1, 0): (NW, SW), (1, 2): (NE, SE)}
    side_bits = {(0, 1): 1, (2, 1): 16, (1, 0): 64, (1, 2): 4}  # N, S, W, E
    for rc, (a, b) in sides.items():
        if layout == "blob":
            g[rc] = tile.has(side_bits[rc]) if tile.centre else 0.0
        else:
            g[rc] = (g[corners[a]] + g[corners[b]]) / 2
    g[1, 1] = tile.centre if layout == "blob" else g[[0, 0, 2, 2], [0, 2, 0, 2]].mean()
    return g


def field(tile: TileDef, layout: str, w: np.ndarray) -> np.ndarray:
    """The terrain field (0 lower … 1 upper) of ``tile``: size × size."""
    return w.T @ labels(tile, layout) @ w


def blend_mask(f: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return np.clip((f - 0.5 + NOISE_AMP * (noise - 0.5)) * SHARPNESS + 0.5, 0.0, 1.0)


def compose(lower: np.ndarray, upper: np.ndarray, tiles: list[TileDef], layout: str,
            seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each tile's float RGBA pixels and its blend mask (1 = upper)."""
    size = lower.shape[0]
    w = weights(size)
    noise = periodic_noise(size, seed)
    images, masks = [], []
    for tile in tiles:
        m = blend_mask(field(tile, layout, w), noise)
        images.append(lower * (1 - m[..., None]) + upper * m[..., None])
        masks.append(m)
    return images, masks


def interior(size: int) -> np.ndarray:
    """1 away from the border strips, falling to 0 before them (where repainting may go)."""
    u = (np.arange(size) + 0.5) / size
    d = np.minimum(u, 1 - u)  # distance to the nearest border, in tiles
    ramp = _smooth((d - STRIP) / 0.08)
    return np.outer(ramp, ramp)


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def sheet(images: list[np.ndarray], columns: int) -> Image.Image:
    """The tiles in a grid, row-major."""
    size = images[0].shape[0]
    rows = -(-len(images) // columns)
    out = np.zeros((rows * size, columns * size, 4), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[r * size:(r + 1) * size, c * size:(c + 1) * size] = to_uint8(img)
    return Image.fromarray(out, "RGBA")
