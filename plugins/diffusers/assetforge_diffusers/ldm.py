"""Write a diffusers SD 1.x folder as one original-layout (A1111/ComfyUI) ``.safetensors`` file.

The inverse of diffusers' single-file loader for SD 1.x (UNet, VAE, CLIP text encoder), after
diffusers' own ``convert_diffusers_to_original_stable_diffusion.py`` script, generalised from
SD's fixed 4 blocks x 2 layers to any UNet/VAE config (so the tiny models convert too). Used
to test single-file loading on a real checkpoint; imports torch and safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_UNET_TOP = [  # (original, diffusers)
    ("time_embed.0.", "time_embedding.linear_1."),
    ("time_embed.2.", "time_embedding.linear_2."),
    ("input_blocks.0.0.", "conv_in."),
    ("out.0.", "conv_norm_out."),
    ("out.2.", "conv_out."),
]
_UNET_RESNET = [
    ("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("out_layers.0", "norm2"),
    ("out_layers.3", "conv2"), ("emb_layers.1", "time_emb_proj"),
    ("skip_connection", "conv_shortcut"),
]
_VAE_ATTN = [("norm.", "group_norm."), ("q.", "to_q."), ("k.", "to_k."), ("v.", "to_v."),
             ("proj_out.", "to_out.0.")]


def _unet_layers(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    n = len(cfg["block_out_channels"])
    layers = cfg.get("layers_per_block", 2)
    down_attn = ["CrossAttn" in t for t in cfg["down_block_types"]]
    up_attn = ["CrossAttn" in t for t in cfg["up_block_types"]]
    out = []
    for i in range(n):
        for j in range(layers):
            k = (layers + 1) * i + j + 1
            out.append((f"input_blocks.{k}.0.", f"down_blocks.{i}.resnets.{j}."))
            if down_attn[i]:
                out.append((f"input_blocks.{k}.1.", f"down_blocks.{i}.attentions.{j}."))
        for j in range(layers + 1):
            k = (layers + 1) * i + j
            out.append((f"output_blocks.{k}.0.", f"up_blocks.{i}.resnets.{j}."))
            if up_attn[i]:
                out.append((f"output_blocks.{k}.1.", f"up_blocks.{i}.attentions.{j}."))
        if i < n - 1:
            out.append((f"input_blocks.{(layers + 1) * (i + 1)}.0.op.",
                        f"down_blocks.{i}.downsamplers.0.conv."))
            out.append((f"output_blocks.{(layers + 1) * i + layers}.{2 if up_attn[i] else 1}.",
                        f"up_blocks.{i}.upsamplers.0."))
    out.append(("middle_block.1.", "mid_block.attentions.0."))
    out += [(f"middle_block.{2 * j}.", f"mid_block.resnets.{j}.") for j in range(2)]
    return out


def convert_unet(sd: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    layers = _unet_layers(cfg)
    out = {}
    for key, value in sd.items():
        new = key
        for ldm, hf in _UNET_TOP:
            if new.startswith(hf):
                new = ldm + new[len(hf):]
        if "resnets" in key:
            for ldm, hf in _UNET_RESNET:
                new = new.replace(hf, ldm)
        for ldm, hf in layers:
            new = new.replace(hf, ldm)
        out["model.diffusion_model." + new] = value
    return out


def convert_vae(sd: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    n = len(cfg["block_out_channels"])
    layers = cfg.get("layers_per_block", 1)
    pairs = [("nin_shortcut", "conv_shortcut"), ("norm_out", "conv_norm_out"),
             ("mid.attn_1.", "mid_block.attentions.0.")]
    for i in range(n):
        pairs += [(f"encoder.down.{i}.block.{j}.", f"encoder.down_blocks.{i}.resnets.{j}.")
                  for j in range(layers)]
        pairs += [(f"decoder.up.{n - 1 - i}.block.{j}.", f"decoder.up_blocks.{i}.resnets.{j}.")
                  for j in range(layers + 1)]
        if i < n - 1:
            pairs.append((f"down.{i}.downsample.", f"down_blocks.{i}.downsamplers.0."))
            pairs.append((f"up.{n - 1 - i}.upsample.", f"up_blocks.{i}.upsamplers.0."))
    pairs += [(f"mid.block_{j + 1}.", f"mid_block.resnets.{j}.") for j in range(2)]
    out = {}
    for key, value in sd.items():
        new = key
        for ldm, hf in pairs:
            new = new.replace(hf, ldm)
        if "attentions" in key:
            for ldm, hf in _VAE_ATTN:
                new = new.replace(hf, ldm)
            if value.ndim == 2:  # linear in diffusers, 1x1 conv in the original
                value = value.reshape(*value.shape, 1, 1)
        out["first_stage_model." + new] = value
    return out


def convert_text_encoder(sd: dict[str, Any]) -> dict[str, Any]:
    # transformers >= 5.6 saves CLIPTextModel without its "text_model." level.
    return {"cond_stage_model.transformer." + (k if k.startswith("text_model.")
                                               else "text_model." + k): v
            for k, v in sd.items()}


def export_sd15(folder: Path, dest: Path) -> Path:
    """Write ``folder`` (a diffusers StableDiffusionPipeline) as one checkpoint at ``dest``."""
    from safetensors.torch import load_file, save_file

    def config(name: str) -> dict[str, Any]:
        return json.loads((folder / name / "config.json").read_text("utf-8"))

    state: dict[str, Any] = {}
    state.update(convert_unet(load_file(folder / "unet" / "diffusion_pytorch_model.safetensors"),
                              config("unet")))
    state.update(convert_vae(load_file(folder / "vae" / "diffusion_pytorch_model.safetensors"),
                             config("vae")))
    state.update(convert_text_encoder(load_file(folder / "text_encoder" / "model.safetensors")))
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(dest))
    return dest


def convert_controlnet(sd: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """A diffusers ControlNetModel state dict in the original ControlNet layout
    (``control_model.input_hint_block``, ``zero_convs``, ``middle_block_out``)."""
    blocks = 2 * (len(cfg["conditioning_embedding_out_channels"]) - 1)
    own = {"controlnet_cond_embedding.conv_in.": "input_hint_block.0.",
           "controlnet_cond_embedding.conv_out.": f"input_hint_block.{2 * (blocks + 1)}.",
           "controlnet_mid_block.": "middle_block_out.0."}
    own.update({f"controlnet_cond_embedding.blocks.{j}.": f"input_hint_block.{2 * (j + 1)}."
                for j in range(blocks)})
    own.update({f"controlnet_down_blocks.{i}.": f"zero_convs.{i}.0."
                for i in range(len([k for k in sd if k.startswith("controlnet_down_blocks.")
                                    and k.endswith(".weight")]))})
    out: dict[str, Any] = {}
    shared = {}
    for key, value in sd.items():
        prefix = next((p for p in own if key.startswith(p)), None)
        if prefix is None:
            shared[key] = value
        else:
            out["control_model." + own[prefix] + key[len(prefix):]] = value
    for key, value in convert_unet(shared, cfg).items():  # the UNet encoder it copies
        out["control_model." + key.removeprefix("model.diffusion_model.")] = value
    return out


def export_controlnet(folder: Path, dest: Path) -> Path:
    """Write a diffusers ControlNet folder as one original-layout ``.safetensors`` file."""
    from safetensors.torch import load_file, save_file

    cfg = json.loads((folder / "config.json").read_text("utf-8"))
    # convert_unet also maps up blocks, which a ControlNet lacks: any list of the right length.
    cfg = {"up_block_types": list(reversed(cfg["down_block_types"])), **cfg}
    state = convert_controlnet(load_file(folder / "diffusion_pytorch_model.safetensors"), cfg)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(dest))
    return dest
