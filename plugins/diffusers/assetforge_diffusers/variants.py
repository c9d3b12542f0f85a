"""img2img and ControlNet runs on a loaded pipeline (imports torch and diffusers).

Derived pipelines are made with ``Cls.from_pipe(pipe, …)``: they share the loaded UNet, VAE,
text encoders and tokenizers, so nothing is loaded twice, and they are cached per loaded
pipeline (and per set of ControlNets). ControlNet models are loaded once per loaded pipeline
and identity. Nothing on the shared components is changed: the plain pipeline's next image is
byte-identical to one made before any derived run (tests/test_controlnet.py checks it).

Noise comes from the job's seeded CPU generator as in ``pipeline.run``: txt2img ControlNet runs
pass the same starting latents the plain pipeline would use; img2img runs let the pipeline draw
the VAE sample and the added noise from that generator.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import diffusers
import torch
from PIL import Image

from . import conditions, controlnets, hub, tiny_controlnet
from .conditions import Conditions
from .pipeline import denoiser, family_of, latent_shape, use_scheduler
from .progress import quiet

if TYPE_CHECKING:
    from assetforge.api import Job, Project


@dataclass
class _Derived:
    pipelines: dict[tuple[str, tuple[int, ...]], Any] = field(default_factory=dict)
    controlnets: dict[str, Any] = field(default_factory=dict)  # content identity -> model


_DERIVED: weakref.WeakKeyDictionary[Any, _Derived] = weakref.WeakKeyDictionary()


def _state(pipe: Any) -> _Derived:
    if pipe not in _DERIVED:
        _DERIVED[pipe] = _Derived()
    return _DERIVED[pipe]


def _dtype_kwarg(dtype: torch.dtype) -> dict[str, Any]:
    from diffusers.utils import deprecation_utils  # newer diffusers renamed torch_dtype

    return {"dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype": dtype}


def load_controlnet(cn: controlnets.ControlNetSource, project: Project, dtype: torch.dtype
                    ) -> Any:
    """Load a checked ``[controlnets.NAME]`` source (safetensors unless allow_pickle)."""
    from diffusers import ControlNetModel

    kind = cn.source.kind
    with quiet():
        if kind in ("builtin", "folder", "hub"):
            folder = (tiny_controlnet.ensure_tiny_controlnet(cn.source.value)
                      if kind == "builtin" else cn.folder)
            return ControlNetModel.from_pretrained(
                folder, local_files_only=True,
                use_safetensors=None if project.allow_pickle else True, **_dtype_kwarg(dtype))
        assert cn.source.path is not None
        # Original (A1111) or diffusers layout; the config folder supplies config.json.
        return ControlNetModel.from_single_file(
            str(cn.source.path), config=str(cn.config) if cn.config else None,
            local_files_only=hub.offline() or cn.config is not None, **_dtype_kwarg(dtype))


def controlnet(pipe: Any, project: Project, name: str) -> Any:
    """ControlNet ``name`` for ``pipe``: on its device and dtype, loaded once per identity."""
    cn = controlnets.resolve(project, name)
    key = controlnets.content_identity(cn, project)
    state = _state(pipe)
    if key not in state.controlnets:
        dtype = denoiser(pipe).dtype
        try:
            model = load_controlnet(cn, project, dtype)
        except (OSError, ValueError, KeyError) as e:
            hint = ""
            if cn.source.kind in ("file", "pickle") and cn.config is None:
                hint = ('; offline, a single-file ControlNet needs config = "a folder holding '
                        'its config.json" in its table')
            raise controlnets.problem(project, name, "source", f"cannot load "
                                      f"{cn.source.path or cn.source.value}: "
                                      f"{type(e).__name__}: {e}{hint}") from None
        device = denoiser(pipe).device
        if model.device != device:  # loaded in the pipeline's dtype, on the CPU
            model.to(device)
        state.controlnets[key] = model.eval()
    return state.controlnets[key]


def derived(pipe: Any, cls_name: str, nets: list[Any]) -> Any:
    """``cls_name.from_pipe(pipe, controlnet=…)``, cached per pipeline and ControlNet set."""
    state = _state(pipe)
    key = (cls_name, tuple(id(n) for n in nets))
    if key not in state.pipelines:
        cls = getattr(diffusers, cls_name)
        extra: dict[str, Any] = {}
        if nets:
            extra["controlnet"] = nets[0] if len(nets) == 1 else list(nets)  # → MultiControlNet
        with quiet(), _errors_only():
            # dtype= keeps the shared components as they are (from_pipe casts to float32
            # when it is not given); its .to(dtype) warns about casting, which is a no-op here.
            new = cls.from_pipe(pipe, **extra, **_dtype_kwarg(denoiser(pipe).dtype))
        new.set_progress_bar_config(disable=True)
        state.pipelines[key] = new
    return state.pipelines[key]


@contextmanager
def _errors_only() -> Iterator[None]:
    from diffusers.utils import logging as dlog

    level = dlog.get_verbosity()
    dlog.set_verbosity_error()
    try:
        yield
    finally:
        dlog.set_verbosity(level)


def load_image(path: Path, width: int, height: int) -> Image.Image:
    """An input image as RGB at the job's size: stretched with Lanczos (alpha dropped)."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.LANCZOS)
    return rgb


def run(pipe: Any, job: Job, cond: Conditions, project: Project) -> Image.Image:
    """Generate ``job``'s image with its init image and/or ControlNet conditions."""
    family = family_of(pipe)
    cls_name = conditions.pipeline_class(family, cond)
    nets = [controlnet(pipe, project, c.model) for c in cond.controls]
    runner = derived(pipe, cls_name, nets)
    runner.scheduler = use_scheduler(pipe, job.scheduler, job)  # the job's, shared instance
    accepted = inspect.signature(runner.__call__).parameters
    gen = torch.Generator("cpu").manual_seed(job.seed)
    kwargs: dict[str, Any] = dict(
        prompt=job.prompt, negative_prompt=job.negative_prompt or None,
        num_inference_steps=job.steps, guidance_scale=job.guidance, num_images_per_prompt=1,
        generator=gen, output_type="pil")
    if "width" in accepted:
        kwargs.update(width=job.width, height=job.height)
    if cond.init_input is not None:
        ref = conditions.input_of(job, cond.init_input, "init_image")
        kwargs.update(image=load_image(ref.path, job.width, job.height),
                      strength=cond.strength)
    else:  # the plain pipeline's starting noise (see pipeline.run)
        noise = torch.randn(latent_shape(pipe, job), generator=gen, dtype=torch.float32)
        kwargs["latents"] = noise.to(dtype=denoiser(pipe).dtype)
    if cond.controls:
        images = [load_image(conditions.input_of(job, c.input_name, "control").path,
                             job.width, job.height) for c in cond.controls]
        scales = [c.scale for c in cond.controls]
        key = "control_image" if cond.init_input is not None else "image"
        kwargs[key] = images[0] if len(images) == 1 else images
        kwargs["controlnet_conditioning_scale"] = scales[0] if len(scales) == 1 else scales
    return runner(**kwargs).images[0]
