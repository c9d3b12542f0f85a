"""The ``maps``, ``normal`` and ``pbr`` manifest keys and ``[plugins.pbr]``. numpy-free.

Manifest::

    maps = ["normal", "height", "roughness", "ao"]          # any subset, in any order
    normal = { strength = 2.0, convention = "opengl" }      # or "directx"
    pbr = { blur = 1.0, invert = false, roughness = [0.3, 1.0], ao_radius = 8.0,
            ao_strength = 4.0, suffixes = { normal = "_n" } }

assetforge.toml::

    [plugins.pbr]
    suffixes = { normal = "_n", height = "_h" }     # project-wide; an asset's pbr.suffixes win
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assetforge.api import Problem, UserError, did_you_mean

from . import MAPS

if TYPE_CHECKING:
    from assetforge.api import AssetSpec, Project

PLUGIN_NAME = "pbr"
CONVENTIONS = ("opengl", "directx")
NORMAL_KEYS = ("strength", "convention")
PBR_KEYS = ("blur", "invert", "roughness", "ao_radius", "ao_strength", "suffixes")
SETTINGS = ("suffixes",)
DEFAULT_SUFFIXES = {name: f"_{name}" for name in MAPS}
SUFFIX = re.compile(r"[A-Za-z0-9_.-]{1,40}")
DEFAULT_STRENGTH = 2.0
DEFAULT_BLUR = 1.0  # one pixel: keeps JPEG-like noise of generated images out of the normals
DEFAULT_ROUGHNESS = (0.3, 1.0)
DEFAULT_AO_RADIUS = 8.0
DEFAULT_AO_STRENGTH = 4.0


@dataclass(frozen=True)
class MapOptions:
    """One asset's map settings, validated, defaults filled in."""

    maps: tuple[str, ...]
    strength: float = DEFAULT_STRENGTH
    convention: str = "opengl"
    blur: float = DEFAULT_BLUR
    invert: bool = False
    roughness: tuple[float, float] = DEFAULT_ROUGHNESS
    ao_radius: float = DEFAULT_AO_RADIUS
    ao_strength: float = DEFAULT_AO_STRENGTH


def _unknown(table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for name in table:
        if name not in allowed:
            raise ValueError(f"unknown key {name!r}{did_you_mean(name, allowed)} "
                             f"(expected {', '.join(allowed)})")


def _number(table: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{key}: expected a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def parse_maps(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of map names ({', '.join(MAPS)})")
    for name in value:
        if name not in MAPS:
            hint = did_you_mean(name, MAPS) if isinstance(name, str) else ""
            raise ValueError(f"unknown map {name!r}{hint} (expected {', '.join(MAPS)})")
    if len(set(value)) != len(value):
        raise ValueError("each map may be listed once")
    return tuple(value)


def parse_normal(value: Any) -> tuple[float, str]:
    if not isinstance(value, dict):
        raise ValueError('expected a table like {strength = 2.0, convention = "opengl"}')
    _unknown(value, NORMAL_KEYS)
    strength = _number(value, "strength", DEFAULT_STRENGTH, 0, 100)
    convention = value.get("convention", "opengl")
    if convention not in CONVENTIONS:
        hint = did_you_mean(convention, CONVENTIONS) if isinstance(convention, str) else ""
        raise ValueError(f"convention: expected \"opengl\" (green = +Y: Godot, Unity, Blender) "
                         f"or \"directx\" (Unreal), got {convention!r}{hint}")
    return strength, convention


def parse_suffixes(value: Any, key: str = "suffixes") -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f'{key}: expected a table like {{normal = "_n"}}')
    for name, suffix in value.items():
        if name not in MAPS:
            raise ValueError(f"{key}: unknown map {name!r}{did_you_mean(name, MAPS)} "
                             f"(expected {', '.join(MAPS)})")
        if not isinstance(suffix, str) or not SUFFIX.fullmatch(suffix) or ".." in suffix:
            raise ValueError(f"{key}.{name}: expected 1-40 letters, digits, '_', '-' or '.' "
                             f"(the file is ID + suffix + .png beside the texture), "
                             f"got {suffix!r}")
    return dict(value)


def parse_pbr(value: Any) -> dict[str, Any]:
    """The ``pbr`` table as MapOptions fields (plus ``suffixes``)."""
    if not isinstance(value, dict):
        raise ValueError("expected a table like {blur = 1.0, ao_radius = 8.0}")
    _unknown(value, PBR_KEYS)
    out: dict[str, Any] = {"blur": _number(value, "blur", DEFAULT_BLUR, 0, 16)}
    invert = value.get("invert", False)
    if not isinstance(invert, bool):
        raise ValueError(f"invert: expected true or false, got {invert!r}")
    out["invert"] = invert
    rough = value.get("roughness", list(DEFAULT_ROUGHNESS))
    if (not isinstance(rough, list) or len(rough) != 2
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in rough)
            or not 0 <= rough[0] <= rough[1] <= 1):
        raise ValueError(f"roughness: expected [low, high] with 0 <= low <= high <= 1 (the "
                         f"roughness of the brightest and darkest pixels), got {rough!r}")
    out["roughness"] = (float(rough[0]), float(rough[1]))
    out["ao_radius"] = _number(value, "ao_radius", DEFAULT_AO_RADIUS, 0.5, 64)
    out["ao_strength"] = _number(value, "ao_strength", DEFAULT_AO_STRENGTH, 0, 64)
    out["suffixes"] = parse_suffixes(value.get("suffixes", {}))
    return out


def checker(parse: Any) -> Any:
    """A ManifestKey check from a parser that raises ValueError."""
    def check(value: Any) -> str | None:
        try:
            parse(value)
        except ValueError as e:
            return str(e)
        return None
    return check


def _parsed(spec: AssetSpec, key: str, parse: Any) -> Any:
    try:
        return parse(spec.get(key))
    except ValueError as e:
        raise UserError([Problem(spec.where(key), key, str(e))]) from None


def options_of(spec: AssetSpec) -> MapOptions | None:
    """The asset's map options, or None when it asks for no maps."""
    if not spec.get("maps"):
        return None
    fields: dict[str, Any] = {"maps": _parsed(spec, "maps", parse_maps)}
    if spec.get("normal") is not None:
        fields["strength"], fields["convention"] = _parsed(spec, "normal", parse_normal)
    if spec.get("pbr") is not None:
        table = _parsed(spec, "pbr", parse_pbr)
        table.pop("suffixes")
        fields.update(table)
    return MapOptions(**fields)


def settings_problems(project: Project) -> list[Problem]:
    """Mistakes in ``[plugins.pbr]``."""
    table = project.plugin_config(PLUGIN_NAME)
    problems = [Problem(project.where("plugins", PLUGIN_NAME, key), f"plugins.{PLUGIN_NAME}.{key}",
                        f"unknown setting{did_you_mean(key, SETTINGS)} (expected "
                        f"{', '.join(SETTINGS)})")
                for key in table if key not in SETTINGS]
    if "suffixes" in table:
        try:
            parse_suffixes(table["suffixes"])
        except ValueError as e:
            problems.append(Problem(project.where("plugins", PLUGIN_NAME, "suffixes"),
                                    f"plugins.{PLUGIN_NAME}", str(e)))
    return problems


def suffixes(spec: AssetSpec, project: Project) -> dict[str, str]:
    """File-name suffix per map: the asset's ``pbr.suffixes``, else ``[plugins.pbr]``'s, else
    ``_normal``, ``_height``, … Raises UserError for a bad setting or two maps sharing one."""
    problems = settings_problems(project)
    if problems:
        raise UserError(problems)
    out = {**DEFAULT_SUFFIXES, **project.plugin_config(PLUGIN_NAME).get("suffixes", {})}
    if isinstance(spec.get("pbr"), dict):
        out.update(_parsed(spec, "pbr", parse_pbr)["suffixes"])
    maps = options_of(spec)
    used = [out[m] for m in maps.maps] if maps else []
    if len(set(used)) != len(used):
        raise UserError([Problem(spec.where("pbr"), "pbr.suffixes",
                                 f"two maps would share a file name: suffixes {used}")])
    return out
