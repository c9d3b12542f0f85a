"""Content identity and family of a model, without torch.

A diffusers folder's identity is the sha256 of the sorted ``[relpath, sha256]`` pairs of the
files ``load()`` reads: ``model_index.json`` and the folders of the components it loads, minus
weights it never reads (other frameworks, ``.fp16``-style variants, pickle weights next to
safetensors ones). Hashing everything instead would read a repository clone's 4 GB root
``.ckpt`` that is never loaded, and refuse it as pickle. A hub snapshot in the Hugging Face
cache is the same kind of folder, so it gets the same identity as a copy of it on disk.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assetforge.api import (
    ModelConfig,
    Project,
    WeightLicense,
    front_matter_license,
    json_hash,
    safetensors_license,
)

FAMILIES = ("sd15", "sd2", "sdxl", "sd3")
PIPELINE_FAMILIES = {
    "StableDiffusionPipeline": "sd15",  # or sd2, told apart by the UNet's cross-attention width
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusion3Pipeline": "sd3",
}
FAMILY_PIPELINES = {"sd15": "StableDiffusionPipeline", "sd2": "StableDiffusionPipeline",
                    "sdxl": "StableDiffusionXLPipeline", "sd3": "StableDiffusion3Pipeline"}
# Optional components load() passes as None (no NSFW filter, no IP-adapter image encoder).
SKIPPED_COMPONENTS = ("safety_checker", "feature_extractor", "image_encoder")

SAFE_WEIGHTS = (".safetensors",)
PICKLE_WEIGHTS = (".bin", ".ckpt", ".pt", ".pth")
FOREIGN_WEIGHTS = (".msgpack", ".h5", ".onnx", ".onnx_data", ".pb", ".ot", ".gguf", ".tflite")
_NO_WEIGHTS = ("Tokenizer", "TokenizerFast", "Scheduler", "FeatureExtractor", "ImageProcessor")


class ModelFormatError(ValueError):
    """A model file or folder is not what it claims to be; the caller names the model table."""


# -- diffusers folders -------------------------------------------------------------------------
def read_model_index(folder: Path) -> dict[str, Any]:
    path = folder / "model_index.json"
    if not path.is_file():
        raise ModelFormatError(f"{folder} is not a diffusers model folder (no model_index.json)")
    try:
        index = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ModelFormatError(f"{path}: unreadable model_index.json: {e}") from None
    if not isinstance(index, dict) or not isinstance(index.get("_class_name"), str):
        raise ModelFormatError(f"{path}: no _class_name (not a diffusers pipeline)")
    return index


def components(index: dict[str, Any]) -> dict[str, str]:
    """Components load() reads: name -> class name (null and skipped ones left out)."""
    out = {}
    for name, spec in index.items():
        if name.startswith("_") or name in SKIPPED_COMPONENTS or not isinstance(spec, list):
            continue
        if len(spec) == 2 and spec[0] is not None and spec[1] is not None:
            out[name] = str(spec[1])
    return out


def null_components(index: dict[str, Any]) -> list[str]:
    """Components listed as ``[null, null]`` or skipped: load() passes them as None."""
    return [n for n, s in index.items() if not n.startswith("_") and isinstance(s, list)
            and (n in SKIPPED_COMPONENTS or (len(s) == 2 and s[0] is None))]


def family_of_folder(folder: Path, index: dict[str, Any]) -> str:
    cls = index["_class_name"]
    if cls not in PIPELINE_FAMILIES:
        raise ModelFormatError(f"{folder}: pipeline {cls} is not supported "
                               f"(supported: {', '.join(PIPELINE_FAMILIES)})")
    family = PIPELINE_FAMILIES[cls]
    if family == "sd15":
        try:
            unet = json.loads((folder / "unet" / "config.json").read_text("utf-8"))
            if unet.get("cross_attention_dim") == 1024:  # OpenCLIP-H text encoder: SD 2.x
                family = "sd2"
        except (OSError, ValueError):
            pass
    return family


def _is_variant(name: str) -> bool:
    # diffusion_pytorch_model.fp16.safetensors, model.fp16-00001-of-00002.safetensors,
    # diffusion_pytorch_model.safetensors.index.fp16.json
    parts = name.split(".")
    if name.endswith(".json") and ".index." in name:
        return len(parts) > 4
    return len(parts) > 2


def model_files(folder: Path, index: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Relative paths load() reads, and which of them are pickle weights."""
    files = ["model_index.json"]
    pickles: list[str] = []
    for comp in sorted(components(index)):
        sub = folder / comp
        if not sub.is_dir():
            continue
        safe, unsafe, other = [], [], []
        for p in sorted(sub.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(folder).as_posix()
            name = p.name.lower()
            weight_suffix = next((s for s in SAFE_WEIGHTS + PICKLE_WEIGHTS + FOREIGN_WEIGHTS
                                  if name.endswith(s)), None)
            index_of = next((s for s in SAFE_WEIGHTS + PICKLE_WEIGHTS
                             if f"{s}.index." in name), None)
            if weight_suffix in FOREIGN_WEIGHTS or (
                    (weight_suffix or index_of) and _is_variant(p.name)):
                continue
            if weight_suffix in SAFE_WEIGHTS or index_of in SAFE_WEIGHTS:
                safe.append(rel)
            elif weight_suffix in PICKLE_WEIGHTS or index_of in PICKLE_WEIGHTS:
                unsafe.append(rel)
            else:
                other.append(rel)
        files += other
        if safe:
            files += safe
        else:
            files += unsafe
            pickles += [r for r in unsafe if not r.endswith(".json")]
    return sorted(files), pickles


def missing_parts(folder: Path, index: dict[str, Any], files: list[str]) -> list[str]:
    """Components with no folder, or a model component with no weights (partial download)."""
    have = {f.split("/", 1)[0] for f in files}
    weights = {f.split("/", 1)[0] for f in files
               if f.lower().endswith(SAFE_WEIGHTS + PICKLE_WEIGHTS)}
    out = []
    for comp, cls in components(index).items():
        if comp not in have:
            out.append(f"{comp}/")
        elif not cls.endswith(_NO_WEIGHTS) and comp not in weights:
            out.append(f"{comp}/ weights")
    return out


def folder_identity(files: list[str], hash_of: Callable[[str], str]) -> str:
    """Tagged sha256 over the sorted ``[relpath, tagged sha256]`` pairs."""
    return json_hash([[rel, hash_of(rel)] for rel in sorted(files)])


# -- single-file checkpoints -------------------------------------------------------------------
def safetensors_keys(path: Path) -> list[str]:
    """Tensor names from a .safetensors header: 8-byte length, then JSON. No torch."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise ModelFormatError(f"{path}: too short to be a .safetensors file")
            (n,) = struct.unpack("<Q", raw)
            if n > min(path.stat().st_size - 8, 1 << 28):
                raise ModelFormatError(f"{path}: not a .safetensors file (bad header length)")
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        if isinstance(e, ModelFormatError):
            raise
        raise ModelFormatError(f"{path}: unreadable .safetensors header: {e}") from None
    if not isinstance(header, dict):
        raise ModelFormatError(f"{path}: not a .safetensors file")
    return [k for k in header if k != "__metadata__"]


def pickle_keys(path: Path) -> list[str]:
    """String constants of a torch pickle, read with pickletools: nothing is unpickled."""
    import pickletools
    import zipfile

    strings: list[str] = []

    def scan(stream: Any, pickles: int) -> None:
        for i in range(pickles):
            try:
                for op, arg, _pos in pickletools.genops(stream):
                    if isinstance(arg, str) and "UNICODE" in op.name:
                        strings.append(arg)
            except ValueError:
                if i == 0:
                    raise
                return  # fewer pickles than a legacy torch file has: keep what was read

    try:
        if zipfile.is_zipfile(path):  # torch >= 1.6: a zip holding <name>/data.pkl
            with zipfile.ZipFile(path) as z:
                pkl = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                if pkl is None:
                    raise ModelFormatError(f"{path}: no data.pkl in this zip checkpoint")
                with z.open(pkl) as f:
                    scan(f, 1)
        else:  # legacy: magic number, protocol, sys info, then the state dict
            with open(path, "rb") as f:
                scan(f, 4)
    except ModelFormatError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure means "not a checkpoint"
        raise ModelFormatError(f"{path}: not a readable torch checkpoint: {e}") from None
    return strings


def family_of_keys(path: Path, keys: list[str]) -> str:
    """Tell the architecture from original-layout (A1111/ComfyUI) tensor names."""
    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if has("model.diffusion_model.joint_blocks") or has("joint_blocks."):
        return "sd3"
    if has("conditioner.embedders.1"):
        return "sdxl"
    if has("cond_stage_model.model."):  # OpenCLIP text encoder
        return "sd2"
    if has("model.diffusion_model."):
        return "sd15"
    raise ModelFormatError(f"{path} does not look like a Stable Diffusion checkpoint "
                           "(no model.diffusion_model.* tensors); if it is one, set "
                           f"family = one of {', '.join(FAMILIES)} in its model table")


def short_hash(tagged: str) -> str:
    """A1111-style short model hash: the first 10 hex digits."""
    return tagged.split(":", 1)[-1][:10]


# -- licences ----------------------------------------------------------------------------------
_LICENSES: dict[tuple[str, str, float], tuple[str | None, str]] = {}


def model_license(model: ModelConfig, project: Project, role: str = "model",
                  table: str = "models") -> WeightLicense:
    """A model (or ControlNet: ``role``/``table``) table's licence: declared
    (``license = "…"``), else read from its weights."""
    from .sources import classify

    declared = model.options.get("license")
    src = classify(model.source, project.root)
    where = project.rel(src.path) if src is not None and src.path is not None else model.source
    if isinstance(declared, str) and declared:
        return WeightLicense(role, model.name, where, declared,
                             f"{project.config_path.name} [{table}.{model.name}]")
    path = src.path if src is not None else None
    if src is not None and src.kind == "hub":
        from .hub import NotCached, cached_snapshot

        try:
            path = cached_snapshot(src.value, src.revision)
        except (NotCached, OSError):
            path = None
    if path is None or not path.exists():
        return WeightLicense(role, model.name, where, None)
    key = (str(path), model.source, path.stat().st_mtime)
    if key not in _LICENSES:  # planning asks once per job: read each model once
        _LICENSES[key] = _read(path)
    found, how = _LICENSES[key]
    return WeightLicense(role, model.name, where, found, how)


def _read(path: Path) -> tuple[str | None, str]:
    if path.is_file():
        found = safetensors_license(path) if path.suffix.lower() == ".safetensors" else None
        return found, "safetensors metadata" if found else ""
    found = front_matter_license(path / "README.md")
    if found:
        return found, "README.md front matter"
    for st in sorted(path.glob("*/*.safetensors")):
        found = safetensors_license(st)
        if found:
            return found, f"safetensors metadata ({st.relative_to(path).as_posix()})"
    return None, ""
