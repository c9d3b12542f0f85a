"""Batched txt2img: N jobs of one shape in one pipeline call (imports torch and diffusers),
with ControlNets too: each job brings its own control images (a pose per frame).

Each image starts from its own seed's CPU generator, exactly the noise it gets alone, and the
per-image generators feed ancestral schedulers' step noise image by image. Batched images still
differ from single-call images (the kernels see other shapes), so the batch size is in the
recipe, and every call has exactly that many images: a short group is padded with copies of its
last job (their images are dropped). Measured on the CPU (tiny SD 1.5, one thread): an image
depends on the batch size and on its place in the call, not on the other images in it. So each
generation records its place (``batch_index``) and ``verify --regenerate`` remakes a job at
that place of a call of its recorded batch size, padded with copies of itself: byte for byte.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from assetforge.api import Job, Project

from . import conditions
from .pipeline import denoiser_dtype, family_of, latent_shape, use_scheduler


def run(pipe: Any, jobs: list[Job], size: int, at: int = 0, project: Project | None = None
        ) -> list[tuple[Image.Image, int]]:
    """``(image, place in its call)`` for ``jobs`` (one shape), in calls of ``size`` images.

    Jobs with and without a negative prompt go in separate calls: diffusers encodes "no
    negative prompt" differently from a list holding "" for some families (SDXL zeroes it).
    One job alone goes at place ``at`` (its recorded place, when it is remade).
    """
    if len(jobs) == 1:
        padded = [jobs[0]] * size
        return [(_call(pipe, padded, project)[min(at, size - 1)], min(at, size - 1))]
    out: dict[int, tuple[Image.Image, int]] = {}
    with_neg = [i for i, j in enumerate(jobs) if j.negative_prompt]
    without = [i for i, j in enumerate(jobs) if not j.negative_prompt]
    for part in (with_neg, without):
        for start in range(0, len(part), size):
            chunk = part[start:start + size]
            batch = [jobs[i] for i in chunk]
            images = _call(pipe, batch + [batch[-1]] * (size - len(batch)), project)
            out.update((i, (images[k], k)) for k, i in enumerate(chunk))
    return [out[i] for i in range(len(jobs))]


def _call(pipe: Any, padded: list[Job], project: Project | None) -> list[Image.Image]:
    first = padded[0]
    runner, extra = _with_controls(pipe, padded, project)
    runner.scheduler = use_scheduler(pipe, first.scheduler, first)
    shape = latent_shape(pipe, first)
    gens = [torch.Generator("cpu").manual_seed(j.seed) for j in padded]
    noise = torch.cat([torch.randn(shape, generator=g, dtype=torch.float32) for g in gens])
    negative = [j.negative_prompt for j in padded] if first.negative_prompt else None
    result = runner(
        prompt=[j.prompt for j in padded], negative_prompt=negative,
        width=first.width, height=first.height, num_inference_steps=first.steps,
        guidance_scale=first.guidance, num_images_per_prompt=1,
        latents=noise.to(dtype=denoiser_dtype(pipe)),
        generator=gens if len(gens) > 1 else gens[0], output_type="pil", **extra,
    )
    return list(result.images)


def _with_controls(pipe: Any, padded: list[Job], project: Project | None
                   ) -> tuple[Any, dict[str, Any]]:
    """The pipeline to call and its ControlNet arguments: the plain pipeline for plain jobs;
    else the derived ControlNet pipeline (variants.py), one image per job and net."""
    cond = conditions.of_job(padded[0])
    if not cond.controls:
        return pipe, {}
    from . import variants

    assert project is not None, "ControlNet jobs need the project (their [controlnets])"
    nets = [variants.controlnet(pipe, project, c.model) for c in cond.controls]
    runner = variants.derived(pipe, conditions.pipeline_class(family_of(pipe), cond), nets)
    per_job = [conditions.of_job(j).controls for j in padded]  # a frame's own pose input
    images = [[variants.load_image(conditions.input_of(j, controls[i].input_name,
                                                       "control").path, j.width, j.height)
               for j, controls in zip(padded, per_job, strict=True)]
              for i in range(len(cond.controls))]
    scales = [c.scale for c in cond.controls]
    return runner, {"image": images[0] if len(images) == 1 else images,
                    "controlnet_conditioning_scale": scales[0] if len(scales) == 1 else scales}
