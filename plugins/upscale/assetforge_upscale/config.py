"""The ``upscale`` manifest table and the ``[plugins.upscale]`` settings. Torch-free.

Manifest: ``upscale = {factor = 2, method = "lanczos"}`` or
``upscale = {factor = 4, model = "models/4x-esrgan.safetensors"}`` (``method`` defaults to
``"model"`` when a model is named, else ``"lanczos"``; ``factor`` defaults to 2).

assetforge.toml::

    [plugins.upscale]
    tile = 512      # model upscaling works on tiles of at most this many input pixels a side
    overlap = 32    # context pixels around each tile (and wrap-around margin of tileable assets)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetforge.api import Problem, UserError

if TYPE_CHECKING:
    from assetforge.api import AssetSpec, Project

FACTORS = (2, 4)
METHODS = ("lanczos", "nearest", "model")
KEYS = ("factor", "method", "model", "license")  # license: not in the recipe
# For editors (assetforge schema): what check_table checks of each key on its own.
SCHEMA = {"additionalProperties": False, "properties": {
    "factor": {"enum": list(FACTORS), "description": "2 or 4 (default 2)"},
    "method": {"enum": list(METHODS), "description": "lanczos (default), nearest, or model"},
    "model": {"type": "string", "minLength": 1,
              "description": "a super-resolution model file, relative to the project root"},
    "license": {"type": "string", "minLength": 1, "description": "the model's licence"}}}
SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 32


@dataclass(frozen=True)
class UpscaleSpec:
    """A validated ``upscale`` table."""

    factor: int
    method: str
    model: str | None  # as written: relative to the project root, or absolute
    license: str | None = None  # the model's licence, when the table declares it


@dataclass(frozen=True)
class Settings:
    """``[plugins.upscale]``."""

    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP


def check_table(value: Any) -> str | None:
    """The manifest key's check: an error message for a malformed table, else None."""
    try:
        parse(value)
    except ValueError as e:
        return str(e)
    return None


def parse(value: Any) -> UpscaleSpec:
    """Parse an ``upscale`` table; raises ``ValueError`` with the message for the user."""
    if not isinstance(value, dict):
        raise ValueError("expected a table like {factor = 2, method = \"lanczos\"}")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (expected {', '.join(KEYS)})")
    factor = value.get("factor", 2)
    if isinstance(factor, bool) or factor not in FACTORS:
        raise ValueError(f"factor must be 2 or 4, not {factor!r}")
    model = value.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise ValueError("model must be a path to a model file (relative to the project root)")
    method = value.get("method", "model" if model else "lanczos")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "model" and not model:
        raise ValueError('method = "model" needs model = "path/to/model.safetensors"')
    if method != "model" and model:
        raise ValueError(f'model is only used with method = "model" (method is {method!r})')
    lic = value.get("license")
    if lic is not None and (not isinstance(lic, str) or not lic):
        raise ValueError("license must be a licence name such as \"Apache-2.0\"")
    return UpscaleSpec(int(factor), method, model, lic)


def spec_of(asset: AssetSpec) -> UpscaleSpec | None:
    """The asset's parsed ``upscale`` table, or None when it has none."""
    value = asset.get("upscale")
    if not value:
        return None
    try:
        return parse(value)
    except ValueError as e:
        raise UserError([Problem(asset.where("upscale"), "upscale", str(e))]) from None


def model_problem(asset: AssetSpec, up: UpscaleSpec, project: Project) -> Problem | None:
    """Why the model file of ``up`` cannot be used (missing, pickle, unknown format), or None."""
    if up.model is None:
        return None
    path = project.resolve_path(up.model)
    where = asset.where("upscale")
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        if not project.allow_pickle:
            return Problem(where, "upscale.model",
                           f"{up.model}: {suffix} files are pickles that can run code when "
                           "loaded; convert it to .safetensors or set allow_pickle = true in "
                           "[project]")
    elif suffix not in SAFE_SUFFIXES:
        return Problem(where, "upscale.model",
                       f"{up.model}: unsupported model file type {suffix or '(none)'!r} "
                       "(expected .safetensors)")
    if not path.is_file():
        return Problem(where, "upscale.model", f"{up.model}: no such file ({path})")
    return None


def model_path(asset: AssetSpec, up: UpscaleSpec, project: Project) -> Path:
    """The model file of ``up``, checked; raises ``UserError`` when it cannot be used."""
    assert up.model is not None
    problem = model_problem(asset, up, project)
    if problem:
        raise UserError([problem])
    return project.resolve_path(up.model)


def settings(project: Project) -> Settings:
    """``[plugins.upscale]`` of assetforge.toml, validated."""
    table = project.plugin_config("upscale")
    problems = []
    for key in sorted(set(table) - {"tile", "overlap"}):
        problems.append(Problem(project.where("plugins", "upscale", key), f"plugins.upscale.{key}",
                                "unknown setting (expected tile, overlap)"))
    tile = table.get("tile", DEFAULT_TILE)
    overlap = table.get("overlap", DEFAULT_OVERLAP)
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 16:
        problems.append(Problem(project.where("plugins", "upscale", "tile"),
                                "plugins.upscale.tile", "expected an integer of at least 16"))
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        problems.append(Problem(project.where("plugins", "upscale", "overlap"),
                                "plugins.upscale.overlap", "expected an integer of at least 0"))
    if problems:
        raise UserError(problems)
    return Settings(tile, overlap)
