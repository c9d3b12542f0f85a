"""LoRA adapters on a diffusers pipeline: load each file once, weight it per job, disable after.

Bookkeeping lives in a ``WeakKeyDictionary`` keyed by the pipeline object, so it dies with the
pipeline and never leaks between projects or builds. Adapter names derive from the file's
content hash: two styles sharing one file share one adapter. torch/diffusers/peft are imported
only inside the functions that touch a pipeline.
"""

from __future__ import annotations

import logging
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assetforge.api import Location, Problem, UserError, untag

from .packs import PICKLE_SUFFIXES, SAFE_SUFFIXES

LORA_COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2")
DEFAULT_MAX_LOADED = 8


def adapter_name(file_hash: str) -> str:
    """peft adapter name for a LoRA file: from its content hash (no dots: it is a module key)."""
    return "af_" + untag(file_hash)[:16]


@dataclass(frozen=True)
class Wanted:
    name: str  # adapter_name(hash)
    path: Path
    weight: float


@dataclass
class AdapterManager:
    """Adapters loaded on one pipeline, least recently used first."""

    loaded: OrderedDict[str, Path] = field(default_factory=OrderedDict)
    loads: int = 0  # load_lora_weights calls: a switch back to a loaded style adds none
    evictions: int = 0
    _layers: list[Any] | None = None  # the pipeline's peft LoRA layers; None: re-scan

    def activate(self, pipe: Any, wanted: list[Wanted], *, allow_pickle: bool, model: str,
                 max_loaded: int = DEFAULT_MAX_LOADED) -> dict[str, Any]:
        """Load what is missing, then enable exactly ``wanted`` at its weights."""
        _require_lora_support(pipe, model)
        weights: dict[str, float] = {}
        paths: dict[str, Path] = {}
        for w in wanted:  # one file in two styles: LoRA deltas are linear, so weights add
            weights[w.name] = weights.get(w.name, 0.0) + w.weight
            paths[w.name] = w.path
        t0 = time.perf_counter()
        new = 0
        for name, path in paths.items():
            if name in self.loaded:
                self.loaded.move_to_end(name)
                continue
            self._evict(pipe, keep=set(paths), room_for=1, max_loaded=max_loaded)
            self._load(pipe, name, path, allow_pickle=allow_pickle, model=model)
            new += 1
        self._switch(pipe, weights)
        return {"lora_loads": new, "lora_activate_s": round(time.perf_counter() - t0, 4),
                "lora_adapters": {paths[n].name: weights[n] for n in weights}}

    def deactivate(self, pipe: Any) -> None:
        """Switch every adapter off: the next job sees the base model, byte for byte."""
        if self.loaded:
            self._switch(pipe, {})

    def unload_all(self, pipe: Any) -> None:
        """Remove every adapter and restore the original layers."""
        if self.loaded:
            pipe.unload_lora_weights()
            self.loaded.clear()
            self._layers = None

    def _switch(self, pipe: Any, weights: dict[str, float]) -> None:
        """Make exactly ``weights``' adapters active, each at its weight (none: base model).

        What diffusers' ``set_adapters`` does (peft's ``set_adapter`` + ``set_scale`` on each
        LoRA layer), over a cached list of layers instead of a walk of every module of every
        component: 3x cheaper per switch. An empty active set runs each wrapped layer's base
        layer alone, exactly like peft's disabled state.
        """
        if self._layers is None:
            self._layers = lora_layers(pipe)
        names = list(weights)
        for layer in self._layers:
            if names and layer.disable_adapters:  # someone called disable_lora()
                layer.enable_adapters(True)
            layer.set_adapter(names)
            for name, weight in weights.items():
                layer.set_scale(name, weight)

    def _evict(self, pipe: Any, keep: set[str], room_for: int, max_loaded: int) -> None:
        for name in [n for n in self.loaded if n not in keep]:
            if len(self.loaded) + room_for <= max_loaded:
                return
            pipe.delete_adapters([name])
            del self.loaded[name]
            self.evictions += 1
            self._layers = None

    def _load(self, pipe: Any, name: str, path: Path, *, allow_pickle: bool, model: str) -> None:
        source, kwargs = _read(path, allow_pickle)
        self.loads += 1
        self._layers = None  # a load wraps layers, even one that fails
        try:
            with _quiet():
                pipe.load_lora_weights(source, adapter_name=name, **kwargs)
        except Exception as e:  # noqa: BLE001 - any loader failure is a bad file for this model
            _discard(pipe, name)
            raise _error(path, f"cannot load into model {model!r} ({type(pipe).__name__}): "
                         f"{_first_line(e)}; wrong base model family or unknown LoRA format?"
                         ) from None
        if count_modules(pipe, name) == 0:
            _discard(pipe, name)
            raise _error(path, f"no layer of model {model!r} ({type(pipe).__name__}) matched any "
                         f"key in {path.name}: wrong base model family or unknown LoRA format")
        self.loaded[name] = path


_MANAGERS: weakref.WeakKeyDictionary[Any, AdapterManager] = weakref.WeakKeyDictionary()


def manager_for(pipe: Any, create: bool = True) -> AdapterManager | None:
    """The adapter bookkeeping of ``pipe`` (created on first use when ``create``).

    None for a loaded model that cannot be weakly referenced (another generator's object):
    no adapters were ever put on it.
    """
    try:
        mgr = _MANAGERS.get(pipe)
        if mgr is None and create:
            mgr = _MANAGERS[pipe] = AdapterManager()
    except TypeError:
        return None
    return mgr


def lora_layers(pipe: Any) -> list[Any]:
    """The peft tuner layers (LoRA-wrapped modules) of the pipeline's models."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    out = []
    for component in LORA_COMPONENTS:
        model = getattr(pipe, component, None)
        if model is not None and hasattr(model, "modules"):
            out += [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    return out


def count_modules(pipe: Any, name: str) -> int:
    """How many layers of the pipeline's models carry adapter ``name``."""
    return sum(1 for m in lora_layers(pipe) if name in getattr(m, "lora_A", {}))


def pipeline_family(pipe: Any) -> str | None:
    """Base-model family of a loaded diffusers pipeline, from its class (None if unknown)."""
    cls = type(pipe).__name__
    if cls.startswith("StableDiffusion3"):
        return "sd3"
    if cls.startswith("StableDiffusionXL"):
        return "sdxl"
    if cls.startswith("Flux"):
        return "flux"
    if cls.startswith("StableDiffusion"):
        unet = getattr(pipe, "unet", None)
        cross = getattr(getattr(unet, "config", None), "cross_attention_dim", None)
        return "sd2" if cross == 1024 else "sd15"
    return None


def _require_lora_support(pipe: Any, model: str) -> None:
    if not all(hasattr(pipe, m) for m in ("load_lora_weights", "delete_adapters")):
        raise UserError(f"model {model!r}: a {type(pipe).__name__} cannot load LoRA adapters, "
                        "so style packs with LoRA files cannot be used with it")


def _read(path: Path, allow_pickle: bool) -> tuple[Any, dict[str, Any]]:
    """What to hand load_lora_weights: a safetensors file, or a state dict from a pickle."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise _error(path, "LoRA file not found")
    if suffix in SAFE_SUFFIXES:
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except (SafetensorError, OSError, ValueError) as e:
            raise _error(path, f"not a valid .safetensors file ({e})") from None
        # use_safetensors=True: diffusers must not fall back to unpickling a broken file.
        return str(path.parent), {"weight_name": path.name, "use_safetensors": True}
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise _error(path, f"{suffix} files are pickles, which can run code when loaded; "
                         "convert it to .safetensors, or set allow_pickle = true under "
                         "[project] in assetforge.toml if you trust it")
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - reported as a bad file
            raise _error(path, f"cannot read this pickle file: {_first_line(e)}") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                                  for v in state.values()):
            raise _error(path, "not a LoRA state dict (expected a mapping of names to tensors)")
        return state, {}
    raise _error(path, f"unknown LoRA format {suffix!r}; expected a .safetensors file")


def _discard(pipe: Any, name: str) -> None:
    """Remove whatever a failed load left behind (diffusers cleans up only part of it)."""
    try:
        with _quiet():
            pipe.delete_adapters([name])
    except Exception:  # noqa: BLE001 - nothing was attached
        pass


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence diffusers/peft chatter during a load: our own checks report what matters."""
    from diffusers.utils import logging as dlogging

    level = dlogging.get_verbosity()
    dlogging.set_verbosity(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        dlogging.set_verbosity(level)


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = " ".join(lines[:2]) if lines else type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _error(path: Path, message: str) -> UserError:
    return UserError([Problem(Location(path), None, message)])
