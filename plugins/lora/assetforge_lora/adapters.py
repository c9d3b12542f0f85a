"""LoRA adapters on a diffusers pipeline: load each file once, weight it per job, disable after.

On a compiled denoiser (the generator's ``compile = true``) LoRA switches hot-swap instead:
torch.compile guards on the module structure, so a new adapter or another active set would
recompile it (seconds on a GPU, tens on a CPU). There, the files a job uses go into fixed
adapter slots ``af_slot<i>`` in a fixed order (sorted by content hash, so an image does not
depend on which jobs ran before), each loaded over the slot's previous file with
``load_lora_weights(hotswap=True)`` (the generator called ``enable_lora_hotswap`` first: ranks
are padded and scales are tensors); every slot stays active and a slot a job leaves unused gets
scale 0 (adds exact zeros). Only a new slot changes the structure (one recompile); so does a
file that cannot hot-swap (text-encoder weights, layers its slot lacks), loaded afresh into
its slot. Each generation records both counts (``lora_hotswaps``, ``lora_slot_loads``).

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
    # Hot-swap mode (a compiled denoiser; None: not decided yet): the adapter name of the file
    # in each slot, each slot's per-layer scale at weight 1, the rank slots are padded to.
    hotswap: bool | None = None
    slots: list[str] = field(default_factory=list)
    _unit: dict[str, list[tuple[Any, float]]] = field(default_factory=dict)
    target_rank: int | None = None
    swaps: int = 0  # files hot-swapped into a slot
    fresh: int = 0  # files loaded afresh into a slot (a new slot, or one that could not swap)

    def activate(self, pipe: Any, wanted: list[Wanted], *, allow_pickle: bool, model: str,
                 max_loaded: int = DEFAULT_MAX_LOADED) -> dict[str, Any]:
        """Load what is missing, then enable exactly ``wanted`` at its weights."""
        _require_lora_support(pipe, model)
        weights: dict[str, float] = {}
        paths: dict[str, Path] = {}
        for w in wanted:  # one file in two styles: LoRA deltas are linear, so weights add
            weights[w.name] = weights.get(w.name, 0.0) + w.weight
            paths[w.name] = w.path
        if self.hotswap is None:
            self.hotswap = compiled(pipe)
            self.target_rank = (getattr(denoiser_of(pipe), "_prepare_lora_hotswap_kwargs", None)
                                or {}).get("target_rank")
        if self.hotswap:
            return self._activate_slots(pipe, weights, paths, allow_pickle=allow_pickle,
                                        model=model)
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
        if self.slots:
            self._scale_slots(pipe, {})
        elif self.loaded:
            self._switch(pipe, {})

    def unload_all(self, pipe: Any) -> None:
        """Remove every adapter and restore the original layers."""
        if self.loaded or self.slots:
            pipe.unload_lora_weights()
            self.loaded.clear()
            self.slots.clear()
            self._unit.clear()
            self._layers = None

    # -- hot-swap mode (a compiled denoiser) -------------------------------------------------
    def _activate_slots(self, pipe: Any, weights: dict[str, float], paths: dict[str, Path], *,
                        allow_pickle: bool, model: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        swaps, fresh = self.swaps, self.fresh
        order = sorted(paths)  # slot i holds the i-th file by hash, whatever ran before
        for i, name in enumerate(order):
            if i < len(self.slots) and self.slots[i] == name:
                continue
            slot = f"af_slot{i}"
            if i < len(self.slots):
                try:
                    self._load(pipe, slot, paths[name], allow_pickle=allow_pickle, model=model,
                               hotswap=True)
                    self.swaps += 1
                except UserError:
                    raise
                except Exception:  # noqa: BLE001 - diffusers/peft cannot swap this file in
                    _discard(pipe, slot)
                    self.slots[i] = ""  # empty until the fresh load below succeeds
                    self._unit.pop(slot, None)
                    self._load_slot(pipe, slot, paths[name], allow_pickle, model)
                self.slots[i] = name
            else:
                self._load_slot(pipe, slot, paths[name], allow_pickle, model)
                self.slots.append(name)
            self._unit[slot] = [(layer, float(layer.scaling[slot]))
                                for layer in lora_layers(pipe) if slot in layer.scaling]
        self._scale_slots(pipe, {f"af_slot{i}": weights[name] for i, name in enumerate(order)})
        return {"lora_hotswaps": self.swaps - swaps, "lora_slot_loads": self.fresh - fresh,
                "lora_activate_s": round(time.perf_counter() - t0, 4),
                "lora_adapters": {paths[n].name: weights[n] for n in weights}}

    def _load_slot(self, pipe: Any, slot: str, path: Path, allow_pickle: bool,
                   model: str) -> None:
        """A file loaded afresh into ``slot``: new layers, so a compiled denoiser that already
        ran recompiles once at its next call."""
        # diffusers prepares the first adapter itself (enable_lora_hotswap), then forgets it
        by_diffusers = getattr(denoiser_of(pipe), "_prepare_lora_hotswap_kwargs", None)
        self._load(pipe, slot, path, allow_pickle=allow_pickle, model=model)
        if by_diffusers is None:
            _prepare_slot(pipe, self.target_rank)
        self.fresh += 1

    def _scale_slots(self, pipe: Any, weights: dict[str, float]) -> None:
        """Every slot active (a fixed active set: no recompile), each at its weight or 0."""
        import torch

        if self._layers is None:
            self._layers = lora_layers(pipe)
            active = [f"af_slot{i}" for i in range(len(self.slots))]
            for layer in self._layers:
                if layer.disable_adapters:
                    layer.enable_adapters(True)
                layer.set_adapter(active)
        for slot, unit in self._unit.items():
            weight = weights.get(slot, 0.0)
            for layer, scale in unit:
                current = layer.scaling[slot]
                if isinstance(current, torch.Tensor):
                    current.fill_(scale * weight)  # in place: the compiled graph reads it
                else:
                    layer.scaling[slot] = scale * weight

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

    def _load(self, pipe: Any, name: str, path: Path, *, allow_pickle: bool, model: str,
              hotswap: bool = False) -> None:
        source, kwargs = _read(path, allow_pickle)
        self.loads += 1
        self._layers = None  # a load wraps layers, even one that fails
        try:
            with _quiet():
                pipe.load_lora_weights(source, adapter_name=name, hotswap=hotswap, **kwargs)
        except Exception as e:  # noqa: BLE001 - any loader failure is a bad file for this model
            if hotswap:
                raise  # the caller loads it afresh
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


def denoiser_of(pipe: Any) -> Any:
    return getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)


def compiled(pipe: Any) -> bool:
    """Whether the pipeline's denoiser (or any of its blocks) was torch.compiled."""
    model = denoiser_of(pipe)
    return model is not None and any(getattr(m, "_compiled_call_impl", None) is not None
                                     for m in model.modules())


def _prepare_slot(pipe: Any, target_rank: int | None) -> None:
    """Pad a new slot to the hot-swap rank and make its scales tensors, as diffusers does for
    the first adapter (``enable_lora_hotswap``); the text encoders are not compiled."""
    from peft.utils.hotswap import prepare_model_for_compiled_hotswap

    prepare_model_for_compiled_hotswap(denoiser_of(pipe), target_rank=target_rank,
                                       check_compiled="ignore")


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
