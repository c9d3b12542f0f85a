"""The torch side: load pipelines, pick schedulers, make initial noise, run one image.

Imported only by ``DiffusersGenerator.load``/``generate`` and by tests: it imports torch and
diffusers at module level.

Noise comes from a CPU ``torch.Generator`` seeded with the job's seed and is passed to the
pipeline as ``latents=`` (A1111's "CPU RNG source"), so a seed gives the same starting noise on
CPU, CUDA and MPS. The same generator then feeds ancestral/SDE schedulers' per-step noise.
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import diffusers
import torch
from PIL import Image

from assetforge.api import Job, Problem, UserError

from . import schedulers
from .identity import FAMILY_PIPELINES, null_components
from .memory import Settings
from .progress import quiet
from .runtime import Runtime


@dataclass
class _State:
    family: str
    default: Any  # the scheduler the model was loaded with
    cache: dict[str, Any] = field(default_factory=dict)  # scheduler name -> instance


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


def family_of(pipe: Any) -> str:
    """The model family of a loaded pipeline (also for pipelines loaded elsewhere)."""
    state = _STATES.get(pipe)
    if state is not None:
        return state.family
    name = type(pipe).__name__
    return "sd3" if "StableDiffusion3" in name else "sdxl" if "XL" in name else "sd15"


def _state(pipe: Any) -> _State:
    if pipe not in _STATES:
        _STATES[pipe] = _State(family_of(pipe), pipe.scheduler)
    return _STATES[pipe]


def _dtype_kwargs(rt: Runtime) -> dict[str, Any]:
    # Newer diffusers renamed torch_dtype to dtype and warn about the old name.
    from diffusers.utils import deprecation_utils

    name = "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    return {name: getattr(torch, rt.dtype)}


def _finish(pipe: Any, family: str, rt: Runtime, tune: Settings | None = None) -> Any:
    from . import tuning

    if denoiser(pipe).dtype != getattr(torch, rt.dtype):  # the recipe promised this dtype
        pipe.to(dtype=getattr(torch, rt.dtype))
    offloaded = tune is not None and tune.offload != "none"  # offload hooks place the weights
    if rt.device != "cpu" and not offloaded:  # .to("cpu") would walk every module for nothing
        pipe.to(rt.device)
    pipe.set_progress_bar_config(disable=True)
    _STATES[pipe] = _State(family, pipe.scheduler)
    if tune is not None:
        tuning.apply(pipe, tune, rt)
    return pipe


# -- loading -----------------------------------------------------------------------------------
def load_folder(folder: Path, family: str, index: dict[str, Any], rt: Runtime,
                allow_pickle: bool, tune: Settings | None = None) -> Any:
    """A diffusers folder (also a builtin or a hub snapshot) with ``from_pretrained``."""
    cls = getattr(diffusers, FAMILY_PIPELINES[family])
    kwargs: dict[str, Any] = {name: None for name in null_components(index)}
    if "safety_checker" in kwargs:
        kwargs["requires_safety_checker"] = False
    if tune is not None and tune.quantize:
        from . import tuning

        kwargs["quantization_config"] = tuning.quantization_config(tune.quantize, family)
    with quiet():
        pipe = cls.from_pretrained(folder, local_files_only=True,
                                   use_safetensors=None if allow_pickle else True,
                                   **_dtype_kwargs(rt), **kwargs)
    return _finish(pipe, family, rt, tune)


def load_single_file(path: Path, family: str, rt: Runtime, config: Path | None,
                     local_files_only: bool, tune: Settings | None = None) -> Any:
    """An original-layout checkpoint with ``from_single_file``.

    ``config`` is a diffusers folder of the same architecture: its model configs, tokenizers
    and scheduler (and any component the checkpoint lacks) come from it. Without it diffusers
    fetches a default config repository from the hub, which needs the network once.
    """
    cls = getattr(diffusers, FAMILY_PIPELINES[family])
    kwargs: dict[str, Any] = {}
    if config is not None:
        kwargs["config"] = str(config)
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    try:
        with quiet():
            pipe = cls.from_single_file(str(path), local_files_only=local_files_only,
                                        **_dtype_kwargs(rt), **kwargs)
    except SingleFileComponentError as e:  # a component missing from checkpoint and config
        raise ValueError(e.message) from None
    return _finish(pipe, family, rt, tune)


# -- schedulers --------------------------------------------------------------------------------
def use_scheduler(pipe: Any, name: str, job: Job | None = None) -> Any:
    """Set ``pipe.scheduler`` to scheduler ``name`` (instances are cached per pipeline)."""
    state = _state(pipe)
    if name not in state.cache:
        try:
            cls_name, overrides = schedulers.spec(name, state.family)
        except ValueError as e:
            where = job.spec.where("scheduler") if job is not None else None
            raise UserError([Problem(where, "scheduler", str(e))]) from None
        if cls_name is None:
            state.cache[name] = state.default
        else:
            cls = getattr(diffusers, cls_name)
            accepted = inspect.signature(cls.__init__).parameters
            # Keep the model's betas/prediction type; drop keys this class does not know.
            config = {k: v for k, v in state.default.config.items() if k in accepted}
            state.cache[name] = cls.from_config(config, **overrides)
    pipe.scheduler = state.cache[name]
    return pipe.scheduler


# -- generation --------------------------------------------------------------------------------
def denoiser(pipe: Any) -> Any:
    return pipe.transformer if getattr(pipe, "unet", None) is None else pipe.unet


# model -> (its first parameter's dtype, its compute dtype)
_DTYPES: weakref.WeakKeyDictionary[Any, tuple[Any, torch.dtype]] = weakref.WeakKeyDictionary()


def denoiser_dtype(pipe: Any) -> torch.dtype:
    """``denoiser(pipe).dtype``, remembered per model: diffusers finds it by walking every
    submodule for casting hooks (2-4 ms, twice a job). Recomputed when the first parameter's
    dtype changes (a later ``pipe.to(dtype=...)``); casting hooks are set at load time."""
    model = denoiser(pipe)
    first = next(model.parameters(), None)
    stamp = first.dtype if first is not None else None
    known = _DTYPES.get(model)
    if known is None or known[0] != stamp:
        known = _DTYPES[model] = (stamp, model.dtype)
    return known[1]


def latent_shape(pipe: Any, job: Job) -> tuple[int, int, int, int]:
    scale = pipe.vae_scale_factor
    model = denoiser(pipe)
    multiple = scale * int(getattr(model.config, "patch_size", None) or 1)
    for key in ("width", "height"):
        value = getattr(job, key)
        if value % multiple:
            raise UserError([Problem(job.spec.where(key), key,
                                     f"{value} is not a multiple of {multiple}, which this "
                                     f"{family_of(pipe)} model needs")])
    return (1, model.config.in_channels, job.height // scale, job.width // scale)


def initial_latents(pipe: Any, job: Job) -> torch.Tensor:
    """The job's starting noise: float32 on the CPU, from a CPU generator seeded with the seed.

    ``run(pipe, job, latents=initial_latents(pipe, job))`` is exactly ``run(pipe, job)``;
    tests may transform the noise (roll it, say) and pass it back.
    """
    gen = torch.Generator("cpu").manual_seed(job.seed)
    return torch.randn(latent_shape(pipe, job), generator=gen, dtype=torch.float32)


def run(pipe: Any, job: Job, latents: torch.Tensor | None = None) -> Image.Image:
    """Generate ``job``'s image: one image per call, scheduler set for this job."""
    use_scheduler(pipe, job.scheduler, job)
    shape = latent_shape(pipe, job)
    gen = torch.Generator("cpu").manual_seed(job.seed)
    noise = torch.randn(shape, generator=gen, dtype=torch.float32)  # advances gen like run()
    if latents is not None:
        if tuple(latents.shape) != shape:
            raise ValueError(f"latents of shape {tuple(latents.shape)}, expected {shape}")
        noise = latents
    dtype = denoiser_dtype(pipe)
    out = pipe(
        prompt=job.prompt, negative_prompt=job.negative_prompt or None,
        width=job.width, height=job.height, num_inference_steps=job.steps,
        guidance_scale=job.guidance, num_images_per_prompt=1,
        latents=noise.to(dtype=dtype), generator=gen, output_type="pil",
    )
    return out.images[0]


def device_of(pipe: Any) -> str:
    # Offloaded pipelines keep weights on the CPU between uses: record where they run.
    return str(getattr(pipe, "_execution_device", None) or pipe.device)
