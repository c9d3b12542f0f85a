"""Running the terrain step: load, compose, repaint (optional), check the seams, write."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from assetforge.api import AssetSpec, InputRef, PluginError, Project

from .compose import compose, fit_tiling, sheet, to_uint8
from .formats import TerrainSet, set_files
from .keys import option, transition_options
from .layout import tiles_of
from .sample import SAMPLE_H, SAMPLE_W, compose_map, paint, random_cells
from .seams import BOUND, check_set, ratio
from .step import noise_seed, output_stem


def load(ref: InputRef) -> Image.Image:
    with Image.open(ref.path) as img:
        img.load()
        return img.convert("RGBA")


def mean_rgb(img: np.ndarray) -> tuple[int, int, int]:
    r, g, b = (int(round(float(c))) for c in img[..., :3].reshape(-1, 3).mean(axis=0))
    return r, g, b


def texture_seam(*textures: np.ndarray) -> float:
    """The largest seam ratio of a terrain image next to itself: no set can do better along
    the borders where that terrain meets itself."""
    t = [to_uint8(x).astype(np.float64) for x in textures]
    return max(ratio(x, x, h) for x in t for h in (True, False))


def build_set(spec: AssetSpec, inputs: dict[str, InputRef], project: Project
              ) -> tuple[dict[str, bytes], dict[str, Any]]:
    layout, size = option(spec, "layout"), option(spec, "tile_size")
    nearest = option(spec, "filter") == "nearest"
    lower = fit_tiling(load(inputs["lower"]), size, nearest)
    upper = fit_tiling(load(inputs["upper"]), size, nearest)
    tiles = tiles_of(layout)
    seed = noise_seed(spec)
    images, masks = compose(lower, upper, tiles, layout, seed)
    t = transition_options(spec)
    if t is not None:
        from .transition import repaint

        images = repaint(images, masks, tiles, spec, project, t)
    images = [to_uint8(i).astype(np.float64) for i in images]  # measure what is written
    report = check_set(images, tiles, layout)
    own = texture_seam(lower, upper)
    if report.worst > max(BOUND, own) * 1.25:  # by construction never; a bug if it does
        raise PluginError("terrain", ValueError(
            f"seam ratio {report.worst:.2f} > {BOUND} between tiles {report.worst_pair} "
            f"(the terrains' own wrap-around: {own:.2f})"))
    terrains = tuple(r[1:] for r in spec.get("terrains"))
    ts = TerrainSet(spec.id, layout, tiles, size, option(spec, "columns"),
                    (terrains[0], terrains[1]), (mean_rgb(lower), mean_rgb(upper)))
    cells = random_cells(SAMPLE_W, SAMPLE_H, seed)
    sample = Image.fromarray(to_uint8(compose_map(paint(cells, tiles, layout), images)), "RGBA")
    files = set_files(output_stem(spec), ts, sheet(images, ts.columns), sample)
    return files, {"tiles": len(tiles), "worst_seam": round(report.worst, 4),
                   "terrain_seam": round(own, 4)}
