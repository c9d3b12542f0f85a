"""Tiny, deterministic LoRA files for tests, benchmarks and the demo project.

Each builder trains nothing: it attaches a peft LoRA to a tiny model's UNet, fills the LoRA
matrices from a fixed torch seed (up weights nonzero, so the image changes) and saves them in
one of the two formats users bring: diffusers/peft (``save_lora_weights``) or kohya-ss
(``lora_unet_…`` keys with ``lora_down``/``lora_up``/``alpha``). The same seed gives the same
weights in both formats, so the two files must paint the same image.

Regenerate the demo pack with ``python -m assetforge_lora.testing make-demo-pack DEST``.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
RANK = 4
ALPHA = 8.0  # != RANK on purpose: the scale alpha/rank must survive each format's loader


def lora_tensors(model_dir: Path, seed: int = 0, rank: int = RANK, alpha: float = ALPHA,
                 strength: float = 0.5, targets: tuple[str, ...] = TARGETS
                 ) -> tuple[dict[str, Any], Any]:
    """peft-format LoRA tensors for the UNet of the diffusers folder ``model_dir``.

    Returns (state dict with keys like ``down_blocks.1….to_q.lora_A.weight``, LoraConfig).
    """
    import torch
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(model_dir, subfolder="unet")
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets),
                        init_lora_weights=False)
    unet.add_adapter(config)
    gen = torch.Generator("cpu").manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(unet.named_parameters()):
            if "lora_A" in name:  # down: (rank, in)
                param.copy_(torch.randn(param.shape, generator=gen) / param.shape[1] ** 0.5)
            elif "lora_B" in name:  # up: (out, rank), nonzero so the image changes
                param.copy_(torch.randn(param.shape, generator=gen) * strength / rank ** 0.5)
    state = {k: v.detach().clone().contiguous()
             for k, v in get_peft_model_state_dict(unet).items()}
    return state, config


def save_peft_lora(model_dir: Path, dest: Path, seed: int = 0, **kw: Any) -> Path:
    """Save a diffusers/peft-format LoRA (``unet.….lora_A.weight`` + adapter metadata)."""
    from diffusers import StableDiffusionPipeline

    state, config = lora_tensors(model_dir, seed, **kw)
    dest.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        dest.parent, unet_lora_layers=state, weight_name=dest.name, safe_serialization=True,
        unet_lora_adapter_metadata=_metadata(config))
    _sort_metadata(dest)
    return dest


def _sort_metadata(path: Path) -> None:
    """Rewrite a safetensors header with its metadata keys sorted.

    safetensors writes ``__metadata__`` in hash-map order, which varies between runs, so the
    same tensors would give different file bytes (and content hashes) each time.
    """
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    meta = header.pop("__metadata__", None)
    ordered = ({"__metadata__": dict(sorted(meta.items()))} if meta else {}) | header
    new = json.dumps(ordered, separators=(",", ":")).encode()
    if len(new) > size:
        raise ValueError(f"{path}: re-serialised header grew ({len(new)} > {size} bytes)")
    path.write_bytes(data[:8] + new.ljust(size, b" ") + data[8 + size:])


def _metadata(config: Any) -> dict[str, Any]:
    meta = config.to_dict()
    # Sets are not JSON; diffusers stores this dict in the safetensors header.
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in meta.items()}


def kohya_state_dict(peft_state: dict[str, Any], alpha: float = ALPHA) -> dict[str, Any]:
    """Rename peft UNet LoRA tensors to kohya-ss keys (SD 1.x uses diffusers module paths).

    ``down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0.lora_A.weight`` becomes
    ``lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_out_0.lora_down.weight``
    (see diffusers' ``_convert_non_diffusers_lora_to_diffusers``).
    """
    import torch

    out: dict[str, Any] = {}
    for key, tensor in peft_state.items():
        module, _, kind = key.rpartition(".lora_")
        name = "lora_unet_" + module.removeprefix("unet.").replace(".", "_")
        if kind == "A.weight":
            out[f"{name}.lora_down.weight"] = tensor
            out[f"{name}.alpha"] = torch.tensor(float(alpha))
        elif kind == "B.weight":
            out[f"{name}.lora_up.weight"] = tensor
        else:
            raise ValueError(f"unexpected LoRA key {key!r}")
    return out


def save_kohya_lora(model_dir: Path, dest: Path, seed: int = 0, alpha: float = ALPHA,
                    **kw: Any) -> Path:
    """Save the same weights as ``save_peft_lora(seed)`` under kohya-ss key names."""
    from safetensors.torch import save_file

    state, _ = lora_tensors(model_dir, seed, alpha=alpha, **kw)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file(kohya_state_dict(state, alpha), str(dest),
              metadata={"ss_network_module": "networks.lora", "ss_network_alpha": str(alpha)})
    _sort_metadata(dest)
    return dest


def save_pickle_lora(model_dir: Path, dest: Path, seed: int = 0, **kw: Any) -> Path:
    """The kohya tensors in a pickle (``torch.save``) file, as old ``.pt``/``.ckpt`` LoRAs are."""
    import torch

    state, _ = lora_tensors(model_dir, seed, **kw)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(kohya_state_dict(state), dest)
    return dest


def save_foreign_lora(dest: Path, prefix: str = "transformer.transformer_blocks.0.attn.to_q",
                      seed: int = 0) -> Path:
    """A well-formed LoRA for a model that is not there (default: an SD3/Flux transformer)."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator("cpu").manual_seed(seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file({f"{prefix}.lora_A.weight": torch.randn(RANK, 32, generator=gen),
               f"{prefix}.lora_B.weight": torch.randn(32, RANK, generator=gen)}, str(dest))
    return dest


# Short prompt text on purpose: the tiny model's byte-level tokenizer spends one of CLIP's 77
# tokens per character, so long prefixes would push the asset's own prompt out.
DEMO_STYLE = """\
description = "Ink-wash dungeon look: heavy black outlines, parchment tones"
trigger_words = ["dngnink"]
prompt_prefix = "ink wash"
prompt_suffix = "black outlines"
negative_prompt = "photo, 3d render"
family = "sd15"
license = "CC0-1.0"

[[lora]]
file = "dungeon_ink.safetensors"
weight = 0.8
"""


def make_demo_pack(dest: Path) -> Path:
    """Write the demo project's ``dungeon_ink`` style pack into ``dest`` (deterministic)."""
    from assetforge_diffusers.tiny import ensure_tiny_model

    dest.mkdir(parents=True, exist_ok=True)
    model = ensure_tiny_model("tiny-sd15")
    save_peft_lora(model, dest / "dungeon_ink.safetensors", seed=7)
    (dest / "style.toml").write_text(DEMO_STYLE, encoding="utf-8")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assetforge_lora.testing")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("make-demo-pack", help="write the dungeon_ink style pack into DEST")
    demo.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "make-demo-pack":
        out = make_demo_pack(args.dest)
        print(f"wrote {out / 'style.toml'} and {out / 'dungeon_ink.safetensors'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
