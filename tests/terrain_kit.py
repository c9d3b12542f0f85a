"""Shared pieces of the terrain tests: tiling textures, a project with two terrain sets, and
reading a built set back into tiles."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from assetforge_terrain import layout
from PIL import Image


def tiling_texture(size: int, seed: int, smooth: int = 2) -> bytes:
    """PNG bytes of a texture that tiles on both axes: seeded noise, blurred with wrap-around
    (a few pixels of correlation, like the tiny model's images)."""
    rng = np.random.default_rng(seed)
    base = rng.random((size, size, 3)) * 255
    for _ in range(smooth):
        base = sum(np.roll(base, (dy, dx), axis=(0, 1))
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    tint = rng.uniform(0.4, 1.0, 3)
    img = np.clip(base * tint, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, "PNG")
    return buf.getvalue()


MANIFEST = """\
[texture.dirt]
image = "art/dirt.png"
tiling = "both"

[texture.grass]
image = "art/grass.png"
tiling = "both"

[terrain.ground]
terrains = ["@dirt", "@grass"]
layout = "blob"

[terrain.ground4]
terrains = ["@dirt", "@grass"]
layout = "corner"
tile_size = 64
"""


def project_files(size: int = 64) -> dict[str, str | bytes]:
    return {"manifests/game.toml": MANIFEST,
            "art/dirt.png": tiling_texture(size, 1), "art/grass.png": tiling_texture(size, 2)}


def set_path(root: Path, name: str, suffix: str) -> Path:
    return root / "assets" / "terrains" / f"{name}{suffix}"


def read_tiles(png: Path, layout_name: str, size: int, columns: int) -> list[np.ndarray]:
    """The tiles of a set's PNG, in grid order, as float RGBA."""
    with Image.open(png) as im:
        data = np.asarray(im.convert("RGBA"), dtype=np.float64)
    count = len(layout.tiles_of(layout_name))
    out = []
    for i in range(count):
        r, c = divmod(i, columns)
        out.append(data[r * size:(r + 1) * size, c * size:(c + 1) * size])
    return out
