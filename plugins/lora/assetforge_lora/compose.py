"""Which styles an asset asks for, and the prompt they compose. Torch-free and deterministic.

``style = "NAME"`` means weight 1; ``styles = [{name = "A", weight = 0.8}, ...]`` lists several.
A style's weight multiplies the default weight of each LoRA file in its pack. A key written in
the manifest overrides a ``[kinds.X]`` default, so ``style = ""`` or ``styles = []`` opts an
asset out of its kind's default style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assetforge.api import AssetSpec, Location, Problem, did_you_mean

from .packs import NAME_RE, StylePack, weight_problem

if TYPE_CHECKING:
    from assetforge.api import Project

KEYS = ("style", "styles")
STYLE_ENTRY_KEYS = ("name", "weight")
RESOLVED = "_styles"  # spec.fields key expand_spec writes: [{"name": ..., "weight": ...}]


@dataclass(frozen=True)
class Request:
    name: str
    weight: float
    key: str  # the manifest key that asked for it ("style" or "styles")


def check_style_name(value: str) -> str | None:
    """``style`` key check: a pack folder name, or "" for no style."""
    if value and not NAME_RE.fullmatch(value):
        return "a style name uses letters, digits, '_' and '-' (the folder styles/NAME)"
    return None


def check_styles_list(value: list) -> str | None:
    """``styles`` key check: names or {name, weight} tables, each style at most once."""
    seen: set[str] = set()
    for i, entry in enumerate(value):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            return f"entry {i + 1}: expected {{name = \"STYLE\", weight = 0.8}}"
        for k in entry:
            if k not in STYLE_ENTRY_KEYS:
                return (f"entry {i + 1}: unknown key {k!r}" + did_you_mean(k, STYLE_ENTRY_KEYS)
                        + "; an entry has name and weight")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            return f"entry {i + 1}: missing name"
        msg = check_style_name(name) or (
            weight_problem(entry["weight"]) if "weight" in entry else None)
        if msg:
            return f"entry {i + 1}: {msg}"
        if name in seen:
            return f"style {name!r} is listed twice"
        seen.add(name)
    return None


def locate(spec: AssetSpec, project: Project, key: str) -> Location:
    """Where ``key`` was set: the manifest, else the [kinds.X] table of assetforge.toml."""
    if key not in spec.explicit and key in project.kind_defaults(spec.kind):
        return project.where("kinds", spec.kind, key)
    return spec.where(key)


def problem_key(spec: AssetSpec, key: str) -> str:
    return f"{spec.kind}.{spec.id}.{key}"


def requested(spec: AssetSpec, project: Project) -> tuple[list[Request], list[Problem]]:
    """The styles ``spec`` asks for, in order, with their weights."""
    present = [k for k in KEYS if k in spec.fields]
    if len(present) == 2:
        explicit = [k for k in KEYS if k in spec.explicit]
        if len(explicit) == 1:  # the manifest's key overrides the kind default
            present = explicit
        else:
            return [], [Problem(locate(spec, project, "styles"), problem_key(spec, "styles"),
                                "set either style or styles, not both")]
    if not present:
        return [], []
    key = present[0]
    value: Any = spec.fields[key]
    if key == "style":
        return ([Request(value, 1.0, key)] if value else []), []
    out = []
    for entry in value:
        if isinstance(entry, str):
            entry = {"name": entry}
        out.append(Request(entry["name"], float(entry.get("weight", 1.0)), key))
    return out, []


def compose(prompt: str, negative: str, packs: list[StylePack]) -> tuple[str, str]:
    """prefixes + trigger words + prompt + suffixes, comma-joined; negative additions appended."""
    words: list[str] = []
    for pack in packs:
        words += [w.strip() for w in pack.trigger_words if w.strip() not in words]
    parts = ([p.get("prompt_prefix") for p in packs] + words + [prompt]
             + [p.get("prompt_suffix") for p in packs])
    negs = [negative] + [p.get("negative_prompt") for p in packs]
    return _join(parts), _join(negs)


def _join(parts: list[str]) -> str:
    out: list[str] = []
    for part in parts:
        part = (part or "").strip().strip(",").strip()
        if part and part not in out:
            out.append(part)
    return ", ".join(out)
