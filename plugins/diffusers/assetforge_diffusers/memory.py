"""Model-table settings for memory, throughput and compilation. Torch-free (planning).

``[models.NAME]`` keys read here:

``batch = N``          generate up to N jobs of one shape per pipeline call (default 1).
``memory``             a named set of the keys below: ``fast`` | ``balanced`` | ``low``
                       (``MODES``); an explicit key overrides its mode's value.
``offload``            ``none`` | ``model`` | ``group`` | ``sequential``: where weights live
                       between uses (diffusers model / group / sequential CPU offload).
``vae_slicing``        decode a batch one image at a time (less peak memory).
``vae_tiling``         decode in overlapping tiles (less memory for big images; blends seams,
                       so it changes pixels, and it breaks seamless wrap: refused with tiling).
``layerwise_fp8``      store the denoiser's weights in float8 (e4m3), compute in the pipeline
                       dtype, layer by layer (diffusers ``enable_layerwise_casting``).
``quantize``           load the denoiser quantized: a diffusers quantization backend
                       (``QUANTIZERS``), when its package is installed.
``compile``            ``torch.compile`` the denoiser (its repeated blocks where the model
                       declares them), once per load; LoRA switches then hot-swap.

Recipe or record: a setting that changes the bytes is in the recipe, the others are recorded
with each generation (``record``). Measured on CPU (tests/test_diffusers_memory.py):
``vae_tiling`` and ``layerwise_fp8`` change pixels; a batch changes pixels against single calls
(see ``batched.py``), so ``batch_size`` is in the recipe. ``vae_slicing`` is a no-op for one image
and gave the same bits in a batch of 2 on some CPUs but not on others (an AVX-512 Xeon: the
VAE's kernels differ by batch shape): in the recipe when ``batch`` > 1, recorded otherwise.
``quantize`` changes the weights themselves and ``compile`` (inductor fuses and reorders float
operations, no bitwise promise against eager) may change pixels: both in the recipe. Offload only
moves weights between devices: recorded (diffusers runs the same kernels on the same device); it
needs an accelerator and cannot be measured here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from assetforge.api import Problem, UserError, did_you_mean

if TYPE_CHECKING:
    from assetforge.api import ModelConfig, Project

OFFLOADS = ("none", "model", "group", "sequential")
# Each mode as the explicit keys it stands for (documented in the README and docs/plugins.md).
MODES: dict[str, dict[str, Any]] = {
    "fast": {"offload": "none", "vae_slicing": False, "vae_tiling": False,
             "layerwise_fp8": False},
    "balanced": {"offload": "model", "vae_slicing": True, "vae_tiling": False,
                 "layerwise_fp8": False},
    "low": {"offload": "group", "vae_slicing": True, "vae_tiling": False,
            "layerwise_fp8": True},
}
# quantize value -> the python package its diffusers backend needs
QUANTIZERS = {"bitsandbytes_4bit": "bitsandbytes", "bitsandbytes_8bit": "bitsandbytes",
              "torchao": "torchao", "quanto": "optimum.quanto"}
NEEDS_CUDA = ("bitsandbytes_4bit", "bitsandbytes_8bit")  # bitsandbytes kernels are CUDA-only
KEYS = ("batch", "memory", "offload", "vae_slicing", "vae_tiling", "layerwise_fp8", "quantize",
        "compile")
MAX_BATCH = 64


@dataclass(frozen=True)
class Settings:
    batch: int = 1
    memory: str | None = None  # the mode named, if any
    offload: str = "none"
    vae_slicing: bool = False
    vae_tiling: bool = False
    layerwise_fp8: bool = False
    quantize: str | None = None
    compile: bool = False
    explicit: frozenset[str] = field(default_factory=frozenset)

    @property
    def tuned(self) -> bool:
        """Whether anything but the batch size differs from loading as before."""
        return (self.offload != "none" or self.vae_slicing or self.vae_tiling
                or self.layerwise_fp8 or bool(self.quantize) or self.compile)

    def recipe(self) -> dict[str, Any]:
        """The pixel-changing settings, each only when not the default (old recipes stay)."""
        out: dict[str, Any] = {"batch_size": self.batch}
        if self.vae_tiling:
            out["vae_tiling"] = True
        if self.vae_slicing and self.batch > 1:  # decoding one image at a time: other kernels
            out["vae_slicing"] = True
        if self.layerwise_fp8:
            out["layerwise_fp8"] = "float8_e4m3fn"
        if self.quantize:
            out["quantize"] = self.quantize
        if self.compile:
            out["compile"] = True
        return out

    def record(self) -> dict[str, Any]:
        """Everything, for the generation record (metrics)."""
        out = asdict(self)
        out["explicit"] = sorted(self.explicit)
        return out


DEFAULT = Settings()


def _where(model: ModelConfig, project: Project | None, key: str) -> Any:
    if project is not None:
        return project.where("models", model.name, key)
    return model.location


def problem(model: ModelConfig, project: Project | None, key: str, message: str) -> UserError:
    return UserError([Problem(_where(model, project, key), f"models.{model.name}.{key}",
                              message)])


def settings(model: ModelConfig, project: Project | None, device: str) -> Settings:
    """The checked settings of ``model`` for a machine whose generation device is ``device``.

    A setting that needs an accelerator on a CPU-only device is an error, never ignored.
    """
    opts = model.options
    if not any(k in opts for k in KEYS):
        return DEFAULT

    def bad(key: str, message: str) -> UserError:
        return problem(model, project, key, message)

    def flag(key: str, default: bool) -> bool:
        value = opts.get(key, default)
        if not isinstance(value, bool):
            raise bad(key, f"expected true or false, got {value!r}")
        return value

    values: dict[str, Any] = dict(MODES["fast"])
    mode = opts.get("memory")
    if mode is not None:
        if mode not in MODES:
            raise bad("memory", f"unknown memory mode {mode!r}{did_you_mean(str(mode), MODES)};"
                      " use one of " + ", ".join(MODES))
        values.update(MODES[mode])
    batch = opts.get("batch", 1)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise bad("batch", f"expected an integer 1…{MAX_BATCH}, got {batch!r}")
    offload = opts.get("offload", values["offload"])
    if offload not in OFFLOADS:
        raise bad("offload", f"unknown offload {offload!r}{did_you_mean(str(offload), OFFLOADS)}"
                  "; use one of " + ", ".join(OFFLOADS))
    quantize = opts.get("quantize")
    if quantize is not None:
        if quantize not in QUANTIZERS:
            raise bad("quantize", f"unknown quantization backend {quantize!r}"
                      f"{did_you_mean(str(quantize), QUANTIZERS)}; use one of "
                      + ", ".join(QUANTIZERS))
        package = QUANTIZERS[quantize]
        if importlib.util.find_spec(package.split(".")[0]) is None:
            raise bad("quantize", f"quantize = {quantize!r} needs the python package "
                      f"{package!r}, which is not installed here (pip install "
                      f"{package.replace('.', '-')})")
    s = Settings(batch, mode, offload, flag("vae_slicing", values["vae_slicing"]),
                 flag("vae_tiling", values["vae_tiling"]),
                 flag("layerwise_fp8", values["layerwise_fp8"]), quantize,
                 flag("compile", False), frozenset(k for k in KEYS if k in opts))
    if device == "cpu":
        _refuse_on_cpu(s, bad)
    return s


def _refuse_on_cpu(s: Settings, bad: Any) -> None:
    """Offload moves weights from the CPU to an accelerator and back: nothing to do (and
    diffusers raises) without one. Said with the key that asked for it."""
    why = ("needs a GPU (it moves weights between the CPU and the accelerator), but this "
           "machine generates on the CPU ([generation] device, ASSETFORGE_DEVICE)")
    if s.offload != "none":
        if "offload" in s.explicit or s.memory is None:
            raise bad("offload", f"offload = {s.offload!r} {why}; use offload = \"none\"")
        raise bad("memory", f"memory = {s.memory!r} means offload = {s.offload!r}, which {why};"
                  " use memory = \"fast\" here, or add offload = \"none\" to keep the rest")
    if s.quantize in NEEDS_CUDA:
        raise bad("quantize", f"quantize = {s.quantize!r}: bitsandbytes kernels need a CUDA "
                  "GPU, but this machine generates on the CPU")


def vae_tiling_models(project: Project) -> dict[str, bool]:
    """Model name -> whether it decodes with VAE tiling (read without checking: cheap)."""
    out = {}
    for name, cfg in project.models.items():
        opts = cfg.options
        tiled = opts.get("vae_tiling")
        if tiled is None:
            tiled = MODES.get(opts.get("memory") or "fast", MODES["fast"])["vae_tiling"]
        out[name] = tiled is True
    return out
