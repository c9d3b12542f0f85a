"""Per-axis convolution padding: circular along tiled axes, the layer's own mode elsewhere.

A convolution with circular padding on every layer maps a periodic input to a periodic output,
so a denoiser and VAE patched this way paint an image that wraps around. ``nn.Conv2d`` has a
single ``padding_mode`` for both axes, so a patched layer pads by hand with ``F.pad`` (one call
per axis) and then convolves with ``padding=0``.

For ``nn.Conv2d`` the patch replaces the instance's ``_conv_forward(input, weight, bias)``, the
step ``Conv2d.forward`` ends in, rather than ``forward`` itself: wrappers that replace or hook
``forward`` (accelerate's offload hooks, which move weights in first) keep working, and the
weight they pass in is the one used. ``nn.ConvTranspose2d.forward`` calls the functional op
directly, so there ``forward`` is replaced. Either way the patch is an instance attribute;
restoring deletes it (or puts back one that was there), leaving the module exactly as it was.

This module imports torch: import it only while generating.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# nn.Conv2d padding_mode -> F.pad mode
_PAD_MODES = {"zeros": "constant", "circular": "circular", "reflect": "reflect",
              "replicate": "replicate"}
_MISSING = object()


@dataclass(frozen=True)
class AxisModes:
    """Padding along x (width, last dim) and y (height) for one patching."""

    x: bool  # circular along x
    y: bool  # circular along y


@dataclass
class _Patch:
    module: nn.Module
    attr: str  # "_conv_forward" (Conv2d) or "forward" (ConvTranspose2d)
    previous: Any  # the instance's own attribute before patching, or _MISSING


def _same_pads(kernel: int, dilation: int) -> tuple[int, int]:
    # torch's padding="same": the extra pixel of an even kernel goes after.
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def conv2d_pads(conv: nn.Conv2d) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding ``conv`` applies, whatever form it was given in."""
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0, 0, 0, 0)
        left, right = _same_pads(conv.kernel_size[1], conv.dilation[1])
        top, bottom = _same_pads(conv.kernel_size[0], conv.dilation[0])
        return (left, right, top, bottom)
    ph, pw = conv.padding
    return (pw, pw, ph, ph)


def _pad_axes(x: torch.Tensor, pads: tuple[int, int, int, int], modes: AxisModes,
              default: str) -> torch.Tensor:
    left, right, top, bottom = pads
    # x first, then y: with both circular the corners come from the opposite corner (a torus).
    if left or right:
        x = F.pad(x, (left, right, 0, 0), mode="circular" if modes.x else default)
    if top or bottom:
        x = F.pad(x, (0, 0, top, bottom), mode="circular" if modes.y else default)
    return x


def _conv2d_forward(conv: nn.Conv2d, modes: AxisModes):
    pads = conv2d_pads(conv)
    default = _PAD_MODES[conv.padding_mode]

    def conv_forward(x: torch.Tensor, weight: torch.Tensor,
                     bias: torch.Tensor | None) -> torch.Tensor:
        x = _pad_axes(x, pads, modes, default)
        return F.conv2d(x, weight, bias, conv.stride, 0, conv.dilation, conv.groups)

    return conv_forward


def _transpose_margin(kernel: int, stride: int, padding: int, dilation: int) -> int:
    # Input pixels to wrap in on each side so every kept output pixel sees all its inputs.
    return max(0, math.ceil((dilation * (kernel - 1) - padding + stride - 1) / stride)) + 1


def _conv_transpose2d_forward(conv: nn.ConvTranspose2d, modes: AxisModes):
    (kh, kw), (sh, sw) = conv.kernel_size, conv.stride
    (ph, pw), (dh, dw) = conv.padding, conv.dilation

    def forward(x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        op_h, op_w = conv._output_padding(x, output_size, conv.stride, conv.padding,
                                          conv.kernel_size, 2, conv.dilation)
        h, w = x.shape[-2:]
        out_h = (h - 1) * sh - 2 * ph + dh * (kh - 1) + op_h + 1
        out_w = (w - 1) * sw - 2 * pw + dw * (kw - 1) + op_w + 1
        # A transposed conv's "padding" crops its full output. Along a circular axis, wrap m
        # input pixels in on each side, convolve without cropping, and keep the window that
        # starts s*m + p in; along the other axis crop p as the layer would.
        mw = _transpose_margin(kw, sw, pw, dw) if modes.x else 0
        mh = _transpose_margin(kh, sh, ph, dh) if modes.y else 0
        if mw:
            x = F.pad(x, (mw, mw, 0, 0), mode="circular")
        if mh:
            x = F.pad(x, (0, 0, mh, mh), mode="circular")
        full = F.conv_transpose2d(x, conv.weight, conv.bias, conv.stride, 0,
                                  (0 if mh else op_h, 0 if mw else op_w), conv.groups,
                                  conv.dilation)
        top, left = sh * mh + ph, sw * mw + pw
        return full[..., top:top + out_h, left:left + out_w]

    return forward


def iter_convs(models: Iterable[nn.Module]) -> Iterator[nn.Module]:
    """Every Conv2d and ConvTranspose2d inside ``models``, each once.

    LoRA wrappers (peft's ``lora.Conv2d``) are not convolutions themselves; their
    ``base_layer`` and ``lora_A``/``lora_B`` convolutions are, so they are found here too.
    """
    seen: set[int] = set()
    for model in models:
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d) and id(module) not in seen:
                seen.add(id(module))
                yield module


def is_patched(module: nn.Module) -> bool:
    """True while ``module`` carries a padding patch."""
    return "_conv_forward" in module.__dict__ or (
        isinstance(module, nn.ConvTranspose2d) and "forward" in module.__dict__)


def _needs_patch(module: nn.Module) -> bool:
    if isinstance(module, nn.ConvTranspose2d):
        return True  # its padding crops; the kernel overlap itself must wrap
    return any(conv2d_pads(module))  # type: ignore[arg-type]


def patch_convs(models: Iterable[nn.Module], modes: AxisModes,
                skip: set[int] | None = None) -> list[_Patch]:
    """Patch every padded convolution of ``models`` (except ids in ``skip``; patched ids are
    added to it); return what ``restore`` needs."""
    patches: list[_Patch] = []
    try:
        for module in iter_convs(models):
            if not _needs_patch(module) or (skip is not None and id(module) in skip):
                continue
            if isinstance(module, nn.ConvTranspose2d):
                attr, new = "forward", _conv_transpose2d_forward(module, modes)
            else:
                attr, new = "_conv_forward", _conv2d_forward(module, modes)  # type: ignore[arg-type]
            patches.append(_Patch(module, attr, module.__dict__.get(attr, _MISSING)))
            setattr(module, attr, new)
            if skip is not None:
                skip.add(id(module))
    except BaseException:
        restore(patches)
        raise
    return patches


def restore(patches: list[_Patch]) -> None:
    """Undo ``patch_convs`` exactly, last patch first."""
    for patch in reversed(patches):
        if patch.previous is _MISSING:
            patch.module.__dict__.pop(patch.attr, None)
        else:
            setattr(patch.module, patch.attr, patch.previous)


@contextmanager
def circular_padding(models: Iterable[nn.Module], modes: AxisModes) -> Iterator[list[_Patch]]:
    """Patch ``models`` for the ``with`` block; yields the (growing) list of patches.

    Convolutions that appear inside the block are patched before the next forward pass: a
    LoRA loaded by another plugin's context entered after this one wraps the (patched) base
    layer and brings new ``lora_A`` convolutions, which must wrap around too. Plugin contexts
    are entered in plugin registration order, so this must not depend on it.
    """
    models = list(models)
    seen: set[int] = set()
    patches = patch_convs(models, modes, seen)

    def patch_new(module: nn.Module, args: Any) -> None:
        patches.extend(patch_convs([module], modes, seen))

    # The model's own forward, and its children's: pipelines call ``vae.decode``, which runs
    # ``vae.decoder`` but never ``vae.forward``.
    hooked = [m for model in models for m in (model, *model.children())]
    handles = [m.register_forward_pre_hook(patch_new) for m in hooked]
    try:
        yield patches
    finally:
        for handle in handles:
            handle.remove()
        restore(patches)


def denoiser_modules(pipeline: Any) -> list[nn.Module]:
    """The pipeline parts that paint pixels: its UNet and its VAE."""
    return [m for m in (getattr(pipeline, "unet", None), getattr(pipeline, "vae", None))
            if isinstance(m, nn.Module)]
