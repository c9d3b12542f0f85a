"""Batched txt2img: N jobs of one shape in one pipeline call (imports torch and diffusers).

Each image starts from its own seed's CPU generator, exactly the noise it gets alone, and the
per-image generators feed ancestral schedulers' step noise image by image. Batched images still
differ from single-call images by a grey level (the kernels see other shapes: measured on CPU,
see memory.py), so the batch size is in the recipe, and every call has exactly that many
images: a short group is padded with copies of its last job (their images are dropped). On the
CPU an image is then the same whatever its companions and place in the batch, so a job's bytes
depend on its recipe alone: ``verify --regenerate`` remakes it in a padded call of its recorded
batch size.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from assetforge.api import Job

from .pipeline import denoiser, latent_shape, use_scheduler


def run(pipe: Any, jobs: list[Job], size: int) -> list[Image.Image]:
    """Images for ``jobs`` (one shape) in calls of ``size`` images each.

    Jobs with and without a negative prompt go in separate calls: diffusers encodes "no
    negative prompt" differently from a list holding "" for some families (SDXL zeroes it).
    """
    out: dict[int, Image.Image] = {}
    with_neg = [i for i, j in enumerate(jobs) if j.negative_prompt]
    without = [i for i, j in enumerate(jobs) if not j.negative_prompt]
    for part in (with_neg, without):
        for start in range(0, len(part), size):
            chunk = part[start:start + size]
            images = _call(pipe, [jobs[i] for i in chunk], size)
            out.update(zip(chunk, images, strict=False))
    return [out[i] for i in range(len(jobs))]


def _call(pipe: Any, jobs: list[Job], size: int) -> list[Image.Image]:
    first = jobs[0]
    padded = jobs + [jobs[-1]] * (size - len(jobs))
    use_scheduler(pipe, first.scheduler, first)
    shape = latent_shape(pipe, first)
    gens = [torch.Generator("cpu").manual_seed(j.seed) for j in padded]
    noise = torch.cat([torch.randn(shape, generator=g, dtype=torch.float32) for g in gens])
    negative = [j.negative_prompt for j in padded] if first.negative_prompt else None
    result = pipe(
        prompt=[j.prompt for j in padded], negative_prompt=negative,
        width=first.width, height=first.height, num_inference_steps=first.steps,
        guidance_scale=first.guidance, num_images_per_prompt=1,
        latents=noise.to(dtype=denoiser(pipe).dtype),
        generator=gens if len(gens) > 1 else gens[0], output_type="pil",
    )
    return list(result.images[:len(jobs)])
