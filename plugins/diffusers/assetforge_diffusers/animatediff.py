"""AnimateDiff: every frame of a ``motion`` animation denoised together, in one call.

A frame job of such an animation asks for its frame; the first one asked runs the whole
animation (``AnimateDiffPipeline``, or ``AnimateDiffControlNetPipeline`` with the poses as
``conditioning_frames``) and the frames are kept, keyed by everything they depend on, so the
other frame jobs of the same build take theirs without a second call.

Loops (``loop = "loop"``) are generated closed, two ways at once:

* **Noise on a circle.** Frame k starts from ``cos(θk)·A + sin(θk)·B`` (A, B: two draws of
  the job's seeded CPU generator; A is the character's own starting noise), θk = 2πk/N: the
  last frame's noise leads into the first's exactly as any frame's leads into the next, and
  the variance stays 1. A ``once``/``pingpong`` animation walks a quarter circle from A to B.
* **Rotating context.** The motion module attends over the frame sequence, which has a start
  and an end. At denoising step i the sequence is rolled by ⌊i·N/steps⌋ frames before the
  UNet and rolled back after it (ControlNet residuals with it), so the seam moves round the
  cycle and the pair (last, first) is denoised as neighbours as often as any other pair — the
  idea of AnimateDiff-Evolved's wrapped context windows, for one window of all frames.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import diffusers
import torch
from PIL import Image

from . import motion, tiny_motion
from .motion import CONTEXT, NOISE  # noqa: F401 - documented here, recorded there
from .pipeline import denoiser, latent_shape, use_scheduler
from .progress import quiet
from .variants import _dtype_kwarg, _errors_only, controlnet, load_image

if TYPE_CHECKING:
    from assetforge.api import Animation, Job, Project


class _State:
    def __init__(self) -> None:
        self.adapters: dict[str, Any] = {}  # identity -> MotionAdapter
        self.pipelines: dict[tuple[str, int | None], Any] = {}
        self.frames: tuple[str, list[Image.Image]] | None = None  # the last animation made


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


def _state(pipe: Any) -> _State:
    if pipe not in _STATES:
        _STATES[pipe] = _State()
    return _STATES[pipe]


def adapter(pipe: Any, project: Project, name: str) -> tuple[str, Any]:
    ms = motion.resolve(project, name)
    key = motion.content_identity(ms, project)
    state = _state(pipe)
    if key not in state.adapters:
        from diffusers import MotionAdapter

        dtype = denoiser(pipe).dtype
        safe = None if project.allow_pickle else True
        with quiet():
            if ms.source.kind == "builtin":
                model = MotionAdapter.from_pretrained(
                    tiny_motion.ensure_tiny_motion(ms.source.value), use_safetensors=True,
                    **_dtype_kwarg(dtype))
            elif ms.folder is not None:
                model = MotionAdapter.from_pretrained(ms.folder, use_safetensors=safe,
                                                      **_dtype_kwarg(dtype))
            else:
                model = MotionAdapter.from_single_file(str(ms.source.path),
                                                       **_dtype_kwarg(dtype))
        state.adapters[key] = model.to(denoiser(pipe).device).eval()
    return key, state.adapters[key]


def _pipeline(pipe: Any, project: Project, anim: Animation) -> Any:
    key, ad = adapter(pipe, project, anim.motion or "")
    net = controlnet(pipe, project, anim.control["model"]) if anim.poses and anim.control \
        else None
    state = _state(pipe)
    slot = (key, id(net) if net is not None else None)
    if slot not in state.pipelines:
        cls = getattr(diffusers, "AnimateDiffControlNetPipeline" if net is not None
                      else "AnimateDiffPipeline")
        extra = {"controlnet": net} if net is not None else {}
        with quiet(), _errors_only():
            new = cls.from_pipe(pipe, unet=motion_unet(denoiser(pipe), ad), motion_adapter=ad,
                                **extra, **_dtype_kwarg(denoiser(pipe).dtype))
        new.set_progress_bar_config(disable=True)
        state.pipelines[slot] = new
    return state.pipelines[slot]


def motion_unet(unet: Any, ad: Any) -> Any:
    """A UNetMotionModel over ``unet``'s own 2D layers (``share_2d``) and ``ad``'s motion
    modules. Not ``from_unet2d``'s copy: a copy would miss (or, with a LoRA loaded, fail on)
    what plugins do to the loaded UNet."""
    from diffusers import UNetMotionModel

    with quiet(), _errors_only():
        model = UNetMotionModel.from_unet2d(unet, ad, load_weights=False)
    share_2d(model, unet)
    model.load_motion_modules(ad)
    return model.to(device=unet.device, dtype=unet.dtype).eval()


_TOP = ("conv_in", "time_proj", "time_embedding", "conv_norm_out", "conv_act", "conv_out")
_PARTS = ("resnets", "attentions", "downsamplers", "upsamplers")


def share_2d(motion_unet: Any, unet: Any) -> None:
    """Make the motion UNet use the loaded UNet's own 2D layers (from_pipe copied them), so
    whatever plugins do to the loaded UNet while a job runs — a style's LoRA, circular
    padding — applies to the frames too, and is undone with it. Only the motion modules are
    the adapter's own."""
    for name in _TOP:
        if getattr(unet, name, None) is not None and hasattr(motion_unet, name):
            setattr(motion_unet, name, getattr(unet, name))
    pairs = [*zip(motion_unet.down_blocks, unet.down_blocks, strict=True),
             *zip(motion_unet.up_blocks, unet.up_blocks, strict=True),
             (motion_unet.mid_block, unet.mid_block)]
    for mine, theirs in pairs:
        for part in _PARTS:
            if getattr(theirs, part, None) is not None and hasattr(mine, part):
                setattr(mine, part, getattr(theirs, part))


def frame_noise(shape: tuple[int, ...], seed: int, count: int, loop: str) -> torch.Tensor:
    """Starting latents (1, C, N, h, w): frames on a circle through two seeded draws."""
    gen = torch.Generator("cpu").manual_seed(seed)
    a = torch.randn(shape, generator=gen, dtype=torch.float32)
    b = torch.randn(shape, generator=gen, dtype=torch.float32)
    if loop == "loop":
        thetas = [2 * math.pi * k / count for k in range(count)]
    else:
        thetas = [(math.pi / 2) * k / max(count - 1, 1) for k in range(count)]
    frames = [math.cos(t) * a + math.sin(t) * b for t in thetas]
    return torch.stack(frames, dim=2)  # (1, C, N, h, w)


@contextmanager
def rotating_context(unet: Any, count: int, steps: int) -> Iterator[None]:
    """Roll the frame axis by ⌊i·N/steps⌋ around the UNet's i-th call (see module doc)."""
    inner = unet.forward
    calls = [0]

    def roll_frames(t: torch.Tensor | None, shift: int) -> torch.Tensor | None:
        if t is None or shift == 0:
            return t
        b = t.shape[0] // count  # (B·N, …): frames are the inner axis of the batch
        return torch.roll(t.reshape(b, count, *t.shape[1:]), shift, dims=1).reshape(t.shape)

    def forward(sample: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        shift = (calls[0] * count // max(steps, 1)) % count
        calls[0] += 1
        if shift:
            sample = torch.roll(sample, shift, dims=2)
            downs = kwargs.get("down_block_additional_residuals")
            if downs is not None:
                kwargs["down_block_additional_residuals"] = tuple(roll_frames(d, shift)
                                                                  for d in downs)
            if kwargs.get("mid_block_additional_residual") is not None:
                kwargs["mid_block_additional_residual"] = roll_frames(
                    kwargs["mid_block_additional_residual"], shift)
        out = inner(sample, *args, **kwargs)
        if not shift:
            return out
        if isinstance(out, tuple):
            return (torch.roll(out[0], -shift, dims=2), *out[1:])
        out.sample = torch.roll(out.sample, -shift, dims=2)
        return out

    unet.forward = forward
    try:
        yield
    finally:
        del unet.forward  # the class's forward again


def animation_key(recipe: dict[str, Any]) -> str:
    """Everything the frames depend on: a frame's recipe without its index (the recipe holds
    every plugin's part too, so two animations differing only by a style do not mix)."""
    rest = json.loads(json.dumps(recipe))
    rest.get("generator", {}).get("animation", {}).pop("frame", None)
    return json.dumps(rest, sort_keys=True)


def frame(pipe: Any, job: Job, anim: Animation, k: int, project: Project,
          recipe: dict[str, Any]) -> tuple[Image.Image, bool]:
    """Frame ``k`` of ``anim``, and whether this ask ran the call that made every frame."""
    key = animation_key(recipe)
    state = _state(pipe)
    ran = state.frames is None or state.frames[0] != key
    if ran:
        state.frames = (key, run(pipe, job, anim, project))
    assert state.frames is not None
    return state.frames[1][k], ran


def run(pipe: Any, job: Job, anim: Animation, project: Project) -> list[Image.Image]:
    """All frames of ``anim`` in one AnimateDiff call."""
    runner = _pipeline(pipe, project, anim)
    runner.scheduler = use_scheduler(pipe, job.scheduler, job)
    _, c, h, w = latent_shape(pipe, job)
    latents = frame_noise((1, c, h, w), job.seed, anim.count, anim.loop)
    gen = torch.Generator("cpu").manual_seed(job.seed)
    kwargs: dict[str, Any] = dict(
        prompt=job.prompt, negative_prompt=job.negative_prompt or None, num_frames=anim.count,
        width=job.width, height=job.height, num_inference_steps=job.steps,
        guidance_scale=job.guidance, generator=gen, output_type="pil",
        latents=latents.to(dtype=denoiser(pipe).dtype))
    if anim.poses:
        kwargs["conditioning_frames"] = [
            load_image(job.inputs[f"animations.{anim.name}.poses.{i}"].path, job.width,
                       job.height) for i in range(anim.count)]
        kwargs["controlnet_conditioning_scale"] = float((anim.control or {}).get("scale", 1.0))
    unet = runner.unet
    if anim.loop == "loop":
        with rotating_context(unet, anim.count, job.steps):
            out = runner(**kwargs)
    else:
        out = runner(**kwargs)
    return list(out.frames[0])
