"""Repainting the band where the two terrains meet with the project's model.

Each tile whose interior holds part of the band is run through the model's image-to-image
pipeline (the generator derives it from the loaded one with ``from_pipe``) with the band as
the mask: the result is kept only inside the mask, which is zero in the border strips, so
the seams stay exactly as composed. Seeds are ``base + tile index``, the base derived from
the asset id and the project's ``seed_salt`` like every seed (or the manifest's ``seed``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from assetforge.api import (
    AssetSpec,
    GenerationContext,
    InputRef,
    Job,
    Problem,
    Project,
    UserError,
    bytes_hash,
    model_generator,
)

from .compose import interior, to_uint8
from .formats import png_bytes
from .layout import TileDef

_LOADED: dict[tuple[str, str], Any] = {}  # (model hash, device setting) -> loaded pipeline



def band_mask(m: np.ndarray, width: float) -> np.ndarray:
    """Where to repaint, 0…1: around the middle of the blend, widened by ``width`` (a
    fraction of the tile interior), and zero in the border strips."""
    size = m.shape[0]
    b = 1.0 - np.abs(2.0 * m - 1.0)
    radius = max(1, int(round(width * size / 4)))
    k = np.ones(2 * radius + 1) / (2 * radius + 1)
    for axis in (0, 1):
        b = np.apply_along_axis(lambda v: np.convolve(np.pad(v, radius, mode="edge"), k,
                                                      mode="valid"), axis, b)
    return np.clip(b * 3.0, 0.0, 1.0) * interior(size)


def _pipeline(project: Project, name: str) -> tuple[Any, Any]:
    gen, cfg = model_generator(project, name)
    key = (gen.identify(cfg, project).hash, str(project.generation.get("device")))
    if key not in _LOADED:
        _LOADED.clear()  # one model at a time
        _LOADED[key] = gen.load(cfg, project)
    return gen, _LOADED[key]


def repaint(images: list[np.ndarray], masks: list[np.ndarray], tiles: list[TileDef],
            spec: AssetSpec, project: Project, t: dict[str, Any]) -> list[np.ndarray]:
    model = spec.get("_transition_model") or {}
    size = images[0].shape[0]
    if size % 8:
        raise UserError([Problem(spec.where("tile_size"), f"terrain.{spec.id}.tile_size",
                                 "a transition is painted by the model: tile_size must be a "
                                 "multiple of 8")])
    gen, loaded = _pipeline(project, model["name"])
    scheduler = model["scheduler"]
    out = []
    with tempfile.TemporaryDirectory(prefix="assetforge-terrain-") as tmp:
        for i, (img, m) in enumerate(zip(images, masks, strict=True)):
            r = band_mask(m, float(t["width"]))
            if r.max() < 1e-3:  # pure terrain inside: nothing meets here
                out.append(img)
                continue
            data = png_bytes(Image.fromarray(to_uint8(img[..., :3]), "RGB"))
            path = Path(tmp) / f"tile{i}.png"
            path.write_bytes(data)
            job_spec = AssetSpec(spec.id, "texture", {"init_image": "@transition",
                                                      "strength": float(t["strength"])},
                                 spec.source)
            job = Job(spec.id, "texture", None, t["prompt"], t["negative_prompt"],
                      (int(model["seed"]) + i) % 2**32, size, size, int(t["steps"]),
                      float(t["guidance"]), scheduler, model["name"], "", job_spec,
                      {"init_image": InputRef("init_image", "@transition", path,
                                              bytes_hash(data))})
            ctx = GenerationContext(project, job, {}, loaded, gen.name,
                                    gen.device_of(loaded))
            painted = gen.generate(loaded, job, ctx).convert("RGB")
            p = np.asarray(painted, dtype=np.float64)
            blended = img.copy()
            blended[..., :3] = img[..., :3] * (1 - r[..., None]) + p * r[..., None]
            out.append(blended)
    return out
