"""``builtin:tiny-controlnet-sd15``: a ControlNet for the tiny SD 1.5, built locally for tests.

``ControlNetModel.from_unet`` copies the tiny UNet's encoder; its output convolutions start at
zero, so it would change nothing. The builder then draws (seeded) the condition embedding's
weights with std 0.3 and the ``controlnet_down_blocks``/``controlnet_mid_block`` weights with
std 0.2 (DESIGN.md): a white disc and a blank condition then give clearly different images.
Built once into the model cache with ``save_pretrained`` (safetensors), like the tiny models.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from . import tiny

BUILDER_VERSION = "1"
BUILTINS = {"tiny-controlnet-sd15": "sd15"}  # name -> family
# Seed and standard deviations of the randomised layers: part of the identity.
RANDOMISE: dict[str, Any] = {"seed": 20240601, "cond_embedding_std": 0.3, "residual_std": 0.2}
_BASE = {"tiny-controlnet-sd15": "tiny-sd15"}


def builtin_identity(name: str) -> str:
    """What determines the bytes: the base tiny model's identity, builder and randomisation."""
    payload = json.dumps({"name": name, "builder": BUILDER_VERSION, "randomise": RANDOMISE,
                          "base": tiny.builtin_identity(_BASE[name])},
                         sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def model_dir(name: str) -> Path:
    return tiny.cache_root() / f"{name}-v{BUILDER_VERSION}"


def ensure_tiny_controlnet(name: str) -> Path:
    """The folder (config.json + safetensors) of builtin ControlNet ``name``, built once."""
    if name not in BUILTINS:
        raise ValueError(f"unknown builtin ControlNet {name!r}; known: {', '.join(BUILTINS)}")
    return tiny.build_once(model_dir(name), "config.json", lambda tmp: build(name, tmp))


def randomise(controlnet: Any, seed: int = RANDOMISE["seed"]) -> Any:
    """Draw the zero-initialised ControlNet layers from a seeded CPU generator, in place."""
    import torch

    gen = torch.Generator("cpu").manual_seed(seed)
    with torch.no_grad():
        for pname, param in controlnet.named_parameters():
            if not pname.endswith("weight"):
                continue
            if pname.startswith("controlnet_cond_embedding."):
                std = RANDOMISE["cond_embedding_std"]
            elif pname.startswith(("controlnet_down_blocks.", "controlnet_mid_block.")):
                std = RANDOMISE["residual_std"]
            else:
                continue
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float32) * std
            param.copy_(noise.to(param.dtype))
    return controlnet


def from_unet(unet: Any, seed: int = RANDOMISE["seed"]) -> Any:
    """A ControlNet for ``unet`` whose condition matters (deterministic for a seed)."""
    import torch
    from diffusers import ControlNetModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # from_unet draws the new layers' default initialisation
        controlnet = ControlNetModel.from_unet(unet)
    return randomise(controlnet, seed)


def build(name: str, dest: Path) -> None:
    from diffusers import UNet2DConditionModel

    from .progress import quiet

    base = tiny.ensure_tiny_model(_BASE[name])
    with quiet():
        unet = UNet2DConditionModel.from_pretrained(base / "unet", use_safetensors=True)
        from_unet(unet).save_pretrained(dest, safe_serialization=True)
