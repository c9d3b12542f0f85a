"""Tiny, deterministic Stable Diffusion models built from real diffusers/transformers classes.

They paint noise, but they exercise exactly the loading and generation code real weights use:
each is built once with a fixed torch seed, saved with ``save_pretrained`` and then loaded back
with ``from_pretrained`` like any local diffusers folder. Configs follow DESIGN.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

# Bump when a builder changes: the builtin model's identity (and so every recipe using it) changes.
BUILDER_VERSION = "1"
TINY_MODELS = ("tiny-sd15", "tiny-sdxl", "tiny-sd3")


def cache_root() -> Path:
    """Folder holding built tiny models (``ASSETFORGE_MODEL_CACHE`` or ~/.cache/assetforge)."""
    env = os.environ.get("ASSETFORGE_MODEL_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "assetforge" / "models"


def builtin_identity(name: str) -> str:
    """Content identity of a builtin model: the hash of what determines its bytes.

    The builder is deterministic, so its name + version + configs name the weights without
    building them; planning stays torch-free on a fresh machine.
    """
    payload = json.dumps({"name": name, "builder": BUILDER_VERSION, "configs": _configs(name)},
                         sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def model_dir(name: str) -> Path:
    return cache_root() / f"{name}-v{BUILDER_VERSION}"


def ensure_tiny_model(name: str) -> Path:
    """Return the folder of builtin model ``name``, building it on first use (atomically)."""
    if name not in TINY_MODELS:
        raise ValueError(f"unknown builtin model {name!r}; known: {', '.join(TINY_MODELS)}")
    return build_once(model_dir(name), "model_index.json",
                      lambda tmp: build_tiny_model(name, tmp))


def build_once(dest: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """``dest``, built by ``build(tmp)`` into a temporary sibling and renamed into place
    (atomically) unless ``dest / marker`` already exists."""
    if (dest / marker).exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, dest)
        except OSError:
            # Another process finished first (dest exists and is non-empty): use theirs.
            if not (dest / marker).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _bytes_to_unicode() -> list[str]:
    # GPT-2/CLIP's reversible byte -> printable-character table.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def _vocab() -> dict[str, int]:
    # Byte-level alphabet as CLIP's tokenizer sees it, each char alone and as a word end.
    chars = sorted(set(_bytes_to_unicode()))
    tokens = ["<|startoftext|>", "<|endoftext|>", "!"] + chars + [c + "</w>" for c in chars]
    vocab: dict[str, int] = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab


def _configs(name: str) -> dict:
    vae = {
        "block_out_channels": [8, 16, 32, 32],
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "latent_channels": 4,
        "norm_num_groups": 8,
        "layers_per_block": 1,
        "sample_size": 64,
    }
    clip = {
        "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1, "hidden_size": 32,
        "intermediate_size": 37, "layer_norm_eps": 1e-05, "num_attention_heads": 4,
        "num_hidden_layers": 5, "vocab_size": 600, "max_position_embeddings": 77,
    }
    unet = {
        "block_out_channels": [32, 64],
        "layers_per_block": 2,
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "cross_attention_dim": 32,
        "norm_num_groups": 32,
    }
    if name == "tiny-sd15":
        return {"vae": vae, "clip": clip, "unet": unet}
    if name == "tiny-sdxl":
        unet = dict(unet, cross_attention_dim=64, addition_embed_type="text_time",
                    addition_time_embed_dim=8, projection_class_embeddings_input_dim=80,
                    use_linear_projection=True, attention_head_dim=[2, 4],
                    transformer_layers_per_block=[1, 1])
        return {"vae": vae, "clip": clip, "clip2": dict(clip, projection_dim=32), "unet": unet}
    if name == "tiny-sd3":
        vae3 = dict(vae, latent_channels=16, use_quant_conv=False, use_post_quant_conv=False,
                    shift_factor=0.0609, scaling_factor=1.5035)
        transformer = {
            "sample_size": 32, "patch_size": 2, "in_channels": 16, "out_channels": 16,
            "num_layers": 2, "attention_head_dim": 8, "num_attention_heads": 4,
            "joint_attention_dim": 32, "caption_projection_dim": 32,
            "pooled_projection_dim": 64, "pos_embed_max_size": 96, "qk_norm": "rms_norm",
        }
        return {"vae": vae3, "clip": dict(clip, projection_dim=32), "transformer": transformer}
    raise ValueError(f"unknown builtin model {name!r}")


def _tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(_vocab()))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    return tok


def build_tiny_model(name: str, dest: Path) -> None:
    """Build builtin model ``name`` into ``dest`` with ``save_pretrained`` (deterministic)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler

    cfg = _configs(name)
    scratch = Path(tempfile.mkdtemp(prefix="tok-"))
    try:
        tok = _tokenizer(scratch)
        torch.manual_seed(0)
        vae = AutoencoderKL(**cfg["vae"])
        if name == "tiny-sd3":
            from diffusers import (
                FlowMatchEulerDiscreteScheduler,
                SD3Transformer2DModel,
                StableDiffusion3Pipeline,
            )
            from transformers import CLIPTextConfig, CLIPTextModelWithProjection

            torch.manual_seed(1)
            transformer = SD3Transformer2DModel(**cfg["transformer"])
            torch.manual_seed(2)
            te1 = CLIPTextModelWithProjection(CLIPTextConfig(**cfg["clip"]))
            torch.manual_seed(3)
            te2 = CLIPTextModelWithProjection(CLIPTextConfig(**cfg["clip"]))
            pipe = StableDiffusion3Pipeline(
                transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                vae=vae, text_encoder=te1, tokenizer=tok, text_encoder_2=te2, tokenizer_2=tok,
                text_encoder_3=None, tokenizer_3=None,
            )
        else:
            from diffusers import UNet2DConditionModel
            from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

            sched = EulerDiscreteScheduler(
                beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                num_train_timesteps=1000, steps_offset=1, timestep_spacing="leading",
            )
            torch.manual_seed(1)
            unet = UNet2DConditionModel(**cfg["unet"])
            torch.manual_seed(2)
            te = CLIPTextModel(CLIPTextConfig(**cfg["clip"]))
            if name == "tiny-sd15":
                from diffusers import StableDiffusionPipeline

                pipe = StableDiffusionPipeline(
                    unet=unet, vae=vae, text_encoder=te, tokenizer=tok, scheduler=sched,
                    safety_checker=None, feature_extractor=None, requires_safety_checker=False,
                )
            else:
                from diffusers import StableDiffusionXLPipeline

                torch.manual_seed(3)
                te2 = CLIPTextModelWithProjection(CLIPTextConfig(**cfg["clip2"]))
                pipe = StableDiffusionXLPipeline(
                    unet=unet, vae=vae, text_encoder=te, tokenizer=tok, text_encoder_2=te2,
                    tokenizer_2=tok, scheduler=sched,
                )
        from .progress import quiet

        with quiet():
            pipe.save_pretrained(dest, safe_serialization=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
