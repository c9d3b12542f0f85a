"""The ``cutout`` manifest value, parsed and checked. Torch-, numpy- and rembg-free.

Manifest: ``cutout = "key"`` or a table::

    cutout = { method = "key", tolerance = 32, feather = 1, binary = false, trim = false }
    cutout = { method = "rembg", model = "models/u2net.onnx", binary = false, trim = true }
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetforge.api import Problem, UserError, did_you_mean

if TYPE_CHECKING:
    from assetforge.api import AssetSpec, Project

METHODS = ("key", "rembg")
KEYS = ("method", "tolerance", "binary", "trim", "feather", "model")
# For editors (assetforge schema): a method name, or a table of KEYS.
SCHEMA = {"anyOf": [
    {"type": "string", "enum": list(METHODS)},
    {"type": "object", "additionalProperties": False,
     "properties": {**{k: {} for k in KEYS}, "method": {"enum": list(METHODS)}}}]}
KEY_ONLY = ("tolerance", "feather")  # meaningless for rembg: refused there, not ignored
DEFAULT_TOLERANCE = 32  # grey levels: AI "plain backgrounds" drift by 10-25 levels
DEFAULT_FEATHER = 1  # one pixel of soft edge: the anti-aliasing of a generated image
MAX_FEATHER = 16
MODEL_SUFFIX = ".onnx"


@dataclass(frozen=True)
class CutoutSpec:
    """A validated ``cutout`` value, with defaults filled in."""

    method: str
    tolerance: float = DEFAULT_TOLERANCE
    feather: int = DEFAULT_FEATHER
    binary: bool = False
    trim: bool = False
    model: str | None = None  # as written: relative to the project root, or absolute

    def params(self) -> dict[str, Any]:
        """Everything that changes the bytes, for the recipe (the model's hash is added later)."""
        out: dict[str, Any] = {"method": self.method, "binary": self.binary, "trim": self.trim}
        if self.method == "key":
            out.update(tolerance=self.tolerance, feather=self.feather)
        return out


def _number(table: dict[str, Any], key: str, default: float, low: float, high: float,
            integer: bool = False) -> float:
    value = table.get(key, default)
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        what = "an integer" if integer else "a number"
        raise ValueError(f"{key}: expected {what} from {low:g} to {high:g}, got {value!r}")
    return value


def _flag(table: dict[str, Any], key: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    return value


def parse(value: Any) -> CutoutSpec:
    """Parse a ``cutout`` value; raises ``ValueError`` with the message for the user."""
    if isinstance(value, str):
        value = {"method": value}
    if not isinstance(value, dict):
        raise ValueError('expected "key" or a table like {method = "key", tolerance = 32}')
    for name in value:
        if name not in KEYS:
            raise ValueError(f"unknown key {name!r}{did_you_mean(name, KEYS)} "
                             f"(expected {', '.join(KEYS)})")
    method = value.get("method", "rembg" if "model" in value else "key")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(map(repr, METHODS))}, got "
                         f"{method!r}{did_you_mean(str(method), METHODS)}")
    binary, trim = _flag(value, "binary"), _flag(value, "trim")
    if method == "rembg":
        misplaced = [k for k in KEY_ONLY if k in value]
        if misplaced:
            raise ValueError(f'{misplaced[0]}: only used with method = "key" (the rembg '
                             "model decides what is background)")
        model = value.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError('model: method = "rembg" needs model = "path/to/model.onnx" '
                             "(relative to the project root; nothing is downloaded)")
        if not model.lower().endswith(MODEL_SUFFIX):
            raise ValueError(f"model: expected an ONNX file ({MODEL_SUFFIX}), got {model!r}")
        return CutoutSpec("rembg", binary=binary, trim=trim, model=model)
    if "model" in value:
        raise ValueError('model: only used with method = "rembg"')
    tolerance = _number(value, "tolerance", DEFAULT_TOLERANCE, 0, 255)
    feather = int(_number(value, "feather", DEFAULT_FEATHER, 0, MAX_FEATHER, integer=True))
    return CutoutSpec("key", float(tolerance), feather, binary, trim)


def check_value(value: Any) -> str | None:
    """The manifest key's check: an error message for a malformed value, else None."""
    try:
        parse(value)
    except ValueError as e:
        return str(e)
    return None


def spec_of(asset: AssetSpec) -> CutoutSpec | None:
    """The asset's parsed ``cutout``, or None when it has none."""
    value = asset.get("cutout")
    if value is None or value is False:
        return None
    try:
        return parse(value)
    except ValueError as e:
        raise UserError([Problem(asset.where("cutout"), "cutout", str(e))]) from None


def rembg_installed() -> bool:
    """rembg and its ONNX runtime are importable (checked without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("rembg", "onnxruntime"))


def model_problem(asset: AssetSpec, cut: CutoutSpec, project: Project) -> Problem | None:
    """Why ``method = "rembg"`` cannot run for ``asset`` (not installed, no model), or None."""
    if cut.method != "rembg":
        return None
    # A kind default ([kinds.X] cutout = …) is reported where it is written: assetforge.toml.
    where = (asset.where("cutout") if "cutout" in asset.explicit
             else project.where("kinds", asset.kind, "cutout"))
    if not rembg_installed():
        return Problem(where, "cutout.method",
                       'method = "rembg" needs the rembg library: pip install '
                       "'assetforge-cutout[rembg]' (or pip install 'rembg[cpu]')")
    assert cut.model is not None
    path = project.resolve_path(cut.model)
    if not path.is_file():
        return Problem(where, "cutout.model", f"{cut.model}: no such file ({path}); rembg "
                       "models are never downloaded at build time, put the .onnx file in the "
                       "project")
    return None


def model_path(asset: AssetSpec, cut: CutoutSpec, project: Project) -> Path:
    """The rembg model file of ``cut``, checked; raises ``UserError`` when it cannot be used."""
    problem = model_problem(asset, cut, project)
    if problem:
        raise UserError([problem])
    assert cut.model is not None
    return project.resolve_path(cut.model).resolve()
