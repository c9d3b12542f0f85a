"""``builtin:tiny-motion-sd15``: an AnimateDiff MotionAdapter for the tiny SD 1.5, built locally.

diffusers' own tests build ``MotionAdapter(block_out_channels=(8, 8), motion_layers_per_block=2,
motion_norm_num_groups=2, motion_num_attention_heads=4)`` for a UNet with blocks (8, 8). An
adapter must match its UNet's blocks, so this one has the tiny SD 1.5's: block_out_channels
(32, 64), two motion layers per block (the UNet has two layers per block), norm groups 8 (they
divide 32 and 64), four heads. AnimateDiff zero-initialises the temporal ``proj_out`` layers
(an untrained adapter then changes nothing; diffusers 0.42 happens not to), so the builder
draws them seeded with std 0.2, as tiny_controlnet.py does its output layers: the frames then
depend on each other (tests/test_animatediff.py checks it).
Built once into the model cache with ``save_pretrained`` (safetensors).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from . import tiny

BUILDER_VERSION = "1"
BUILTINS = {"tiny-motion-sd15": "sd15"}  # name -> family
CONFIG: dict[str, Any] = {"block_out_channels": [32, 64], "motion_layers_per_block": 2,
                          "motion_norm_num_groups": 8, "motion_num_attention_heads": 4,
                          "motion_max_seq_length": 32}
RANDOMISE: dict[str, Any] = {"seed": 20261203, "init_seed": 5, "proj_out_std": 0.2}
_BASE = {"tiny-motion-sd15": "tiny-sd15"}


def builtin_identity(name: str) -> str:
    payload = json.dumps({"name": name, "builder": BUILDER_VERSION, "config": CONFIG,
                          "randomise": RANDOMISE, "base": tiny.builtin_identity(_BASE[name])},
                         sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def model_dir(name: str) -> Path:
    return tiny.cache_root() / f"{name}-v{BUILDER_VERSION}"


def ensure_tiny_motion(name: str) -> Path:
    """The folder (config.json + safetensors) of builtin adapter ``name``, built once."""
    if name not in BUILTINS:
        raise ValueError(f"unknown builtin motion adapter {name!r}; known: {', '.join(BUILTINS)}")
    return tiny.build_once(model_dir(name), "config.json", lambda tmp: build(tmp))


def make_adapter() -> Any:
    """The tiny adapter, deterministic: default init under a fixed seed, then proj_out drawn."""
    import torch
    from diffusers import MotionAdapter

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOMISE["init_seed"])
        adapter = MotionAdapter(**CONFIG)
    gen = torch.Generator("cpu").manual_seed(RANDOMISE["seed"])
    with torch.no_grad():
        for pname, param in adapter.named_parameters():
            if ".proj_out." in pname and pname.endswith("weight"):
                noise = torch.randn(param.shape, generator=gen, dtype=torch.float32)
                param.copy_(noise * RANDOMISE["proj_out_std"])
    return adapter


def build(dest: Path) -> None:
    from .progress import quiet

    with quiet():
        make_adapter().save_pretrained(dest, safe_serialization=True)
