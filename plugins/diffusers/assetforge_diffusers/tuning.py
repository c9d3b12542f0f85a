"""Applies ``memory.Settings`` to a loaded pipeline (imports torch and diffusers).

Called once per load by ``pipeline._finish`` after the dtype is set. Offload hooks replace
modules' ``forward``: the seamless plugin sets circular padding through ``padding_mode``, so it
works under them. What was applied is remembered per pipeline and recorded with each
generation (``applied``).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from .memory import Settings
from .runtime import Runtime

_APPLIED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
LORA_HOTSWAP_RANK = 128  # the largest LoRA rank a compiled denoiser hot-swaps without recompiling


def applied(pipe: Any) -> dict[str, Any] | None:
    """The settings applied to ``pipe`` (None for a pipeline loaded with the defaults)."""
    return _APPLIED.get(pipe)


def quantization_config(backend: str, family: str) -> Any:
    """Quantize the denoiser only: text encoders and VAE are small and precision-sensitive."""
    from diffusers.quantizers import PipelineQuantizationConfig

    kwargs: dict[str, Any]
    if backend == "bitsandbytes_4bit":
        kwargs = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                  "bnb_4bit_compute_dtype": torch.float16}
    elif backend == "bitsandbytes_8bit":
        kwargs = {"load_in_8bit": True}
    elif backend == "torchao":  # diffusers 0.42 takes a torchao config object
        from torchao.quantization import Int8WeightOnlyConfig

        kwargs = {"quant_type": Int8WeightOnlyConfig()}
    else:
        kwargs = {"weights_dtype": "int8"}
    denoiser = "transformer" if family == "sd3" else "unet"
    return PipelineQuantizationConfig(quant_backend=backend, quant_kwargs=kwargs,
                                      components_to_quantize=[denoiser])


def apply(pipe: Any, tune: Settings, rt: Runtime) -> None:
    from .pipeline import denoiser

    model = denoiser(pipe)
    if tune.layerwise_fp8:
        # fp8 storage, computed in the pipeline's dtype layer by layer: about half the
        # denoiser's memory in float16. Changes pixels (the weights are rounded): in the recipe.
        model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn,
                                       compute_dtype=model.dtype)
    if tune.vae_slicing:
        pipe.vae.enable_slicing()
    if tune.vae_tiling:
        pipe.vae.enable_tiling()
    device = torch.device(rt.device)
    if tune.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif tune.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    elif tune.offload == "group":
        # Leaf level, with a CUDA stream prefetching the next layer while this one runs.
        pipe.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"),
                                  offload_type="leaf_level", use_stream=device.type == "cuda")
    if tune.compile:
        _compile(pipe, model)
    if tune.tuned:
        _APPLIED[pipe] = tune.record()


def _compile(pipe: Any, model: Any) -> None:
    """Regional compilation (the repeated blocks) where the model declares them, else the
    whole denoiser; LoRA hot-swapping is enabled first so style switches do not recompile."""
    hotswap = getattr(pipe, "enable_lora_hotswap", None)
    if hotswap is not None:
        # "ignore": compilation is lazy (at the first image), so preparing the first adapter
        # after compile() is still before compiling; a whole-model compile would raise here.
        hotswap(target_rank=LORA_HOTSWAP_RANK, check_compiled="ignore")
    if getattr(model, "_repeated_blocks", None):
        model.compile_repeated_blocks(fullgraph=True)
    else:
        model.compile()
