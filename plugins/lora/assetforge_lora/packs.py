"""Style packs on disk: ``styles/NAME/style.toml`` plus its LoRA files. Torch-free.

Planning reads packs for every asset, so parsed packs are cached per file and re-read only when
``style.toml`` or one of its LoRA files changes (size, mtime).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetforge.api import (
    Location,
    Problem,
    TomlFile,
    UserError,
    did_you_mean,
    json_hash,
)

if TYPE_CHECKING:
    from assetforge.api import Project

STYLE_FILE = "style.toml"
DEFAULT_STYLES_DIR = "styles"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
FAMILIES = ("sd15", "sd2", "sdxl", "sd3", "flux")
SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
WEIGHT_LIMIT = 10.0  # larger values are typos (80 for 0.8), not styles

# key -> (types, help). Descriptions and licences are for people: they never reach the image.
STYLE_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "description": ((str,), "what the style looks like"),
    "trigger_words": ((list,), "words the LoRA was trained on, added to the prompt"),
    "prompt_prefix": ((str,), "text put before the prompt"),
    "prompt_suffix": ((str,), "text put after the prompt"),
    "negative_prompt": ((str,), "text added to the negative prompt"),
    "family": ((str,), "base-model family the LoRAs were trained for: " + ", ".join(FAMILIES)),
    "license": ((str,), "licence of the pack's files"),
    "lora": ((list,), "[[lora]] tables: file (relative to the pack) and weight"),
}
LORA_KEYS = ("file", "weight")
NOT_IN_IMAGE = ("description", "license")


@dataclass(frozen=True)
class LoraFile:
    path: Path
    weight: float
    line: int  # line of its [[lora]] table in style.toml

    @property
    def is_pickle(self) -> bool:
        return self.path.suffix.lower() in PICKLE_SUFFIXES


@dataclass(frozen=True)
class StylePack:
    name: str
    toml: Path
    settings: dict[str, Any]  # parsed style.toml, loras resolved
    loras: tuple[LoraFile, ...]
    lines: dict[tuple[str, ...], int]

    def get(self, key: str, default: Any = "") -> Any:
        return self.settings.get(key, default)

    @property
    def trigger_words(self) -> list[str]:
        return list(self.settings.get("trigger_words", []))

    @property
    def family(self) -> str | None:
        return self.settings.get("family")

    @functools.cached_property  # asked once per styled asset while planning
    def settings_hash(self) -> str:
        """Hash of what in style.toml can change an image (not description or licence)."""
        keep = {k: v for k, v in self.settings.items() if k not in NOT_IN_IMAGE and k != "lora"}
        keep["lora_weights"] = [lf.weight for lf in self.loras]
        return json_hash(keep)

    def where(self, *key: str) -> Location:
        while key and key not in self.lines:
            key = key[:-1]
        return Location(self.toml, self.lines.get(key, 0))


# -- finding packs ---------------------------------------------------------------------------

def styles_dir(project: Project) -> Path:
    """The styles folder: ``[plugins.lora] styles_dir`` of assetforge.toml, default ``styles``."""
    value = project.plugin_config("lora").get("styles_dir", DEFAULT_STYLES_DIR)
    if not isinstance(value, str) or not value:
        raise UserError([Problem(project.where("plugins", "lora", "styles_dir"),
                                 "plugins.lora.styles_dir", "expected a folder path string")])
    folder = _DIRS.get((project.root, value))
    if folder is None:  # planning asks several times per styled asset
        folder = _DIRS[project.root, value] = project.resolve_path(value)
    return folder


_DIRS: dict[tuple[Path, str], Path] = {}


def available(project: Project) -> list[str]:
    """Names of the style packs in the project's styles folder."""
    folder = styles_dir(project)
    if not folder.is_dir():
        return []
    return sorted(p.parent.name for p in folder.glob(f"*/{STYLE_FILE}"))


def pack_toml(project: Project, name: str) -> Path:
    folder = styles_dir(project)
    path = _TOMLS.get((folder, name))
    if path is None:
        path = _TOMLS[folder, name] = folder / name / STYLE_FILE
    return path


_TOMLS: dict[tuple[Path, str], Path] = {}


# -- parsing ---------------------------------------------------------------------------------

_CACHE: dict[Path, tuple[tuple, StylePack]] = {}


def _stamp(paths: list[Path]) -> tuple:
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


def load_pack(project: Project, name: str) -> StylePack:
    """Parse style pack ``name`` (cached); raise ``UserError`` naming style.toml and line."""
    # Keyed by the path as found, not resolved: planning asks several times per styled asset
    # and resolve() costs more than the rest. The stamp stats it (through any symlink).
    found = pack_toml(project, name)
    cached = _CACHE.get(found)
    if cached is not None and _stamp([found, *(lf.path for lf in cached[1].loras)]) == cached[0]:
        return cached[1]
    pack = parse_pack(name, found.resolve())  # errors are not cached: a fix must show at once
    _CACHE[found] = (_stamp([found, *(lf.path for lf in pack.loras)]), pack)
    return pack


def parse_pack(name: str, toml: Path) -> StylePack:
    """Read and check one style.toml; every problem is located ``style.toml:line``."""
    if not toml.is_file():
        raise UserError([Problem(Location(toml), None, "style pack has no style.toml")])
    doc = TomlFile(toml)
    data, where, text, lines = doc.data, doc.where, doc.text, doc.lines
    problems: list[Problem] = []

    for key, value in data.items():
        if key not in STYLE_KEYS:
            problems.append(Problem(where(key), key, "unknown key" + did_you_mean(key, STYLE_KEYS)
                                    + f"; style.toml keys: {', '.join(STYLE_KEYS)}"))
        elif not isinstance(value, STYLE_KEYS[key][0]):
            problems.append(Problem(where(key), key, f"expected {_type(STYLE_KEYS[key][0])}, "
                                    f"got {type(value).__name__}"))
    words = data.get("trigger_words", [])
    if isinstance(words, list) and not all(isinstance(w, str) and w.strip() for w in words):
        problems.append(Problem(where("trigger_words"), "trigger_words",
                                "must be a list of non-empty strings"))
    family = data.get("family")
    if isinstance(family, str) and family not in FAMILIES:
        problems.append(Problem(where("family"), "family", f"unknown family {family!r}"
                                + did_you_mean(family, FAMILIES)
                                + f"; known: {', '.join(FAMILIES)}"))
    loras = _loras(data.get("lora", []), toml, text, where, problems)
    if problems:
        raise UserError(problems)
    settings = {k: v for k, v in data.items() if k != "lora"}
    return StylePack(name, toml, settings, tuple(loras), lines)


def _loras(entries: Any, toml: Path, text: str, where, problems: list[Problem]) -> list[LoraFile]:
    if not isinstance(entries, list):
        return []
    table_lines = _array_table_lines(text, "lora")
    out: list[LoraFile] = []
    for i, entry in enumerate(entries):
        line = table_lines[i] if i < len(table_lines) else where("lora").line
        loc = Location(toml, line)
        key = f"lora[{i}]"
        if not isinstance(entry, dict):
            problems.append(Problem(loc, key, "expected a table with file and weight"))
            continue
        for k in entry:
            if k not in LORA_KEYS:
                problems.append(Problem(loc, f"{key}.{k}",
                                        "unknown key" + did_you_mean(k, LORA_KEYS)))
        file = entry.get("file")
        if not isinstance(file, str) or not file:
            problems.append(Problem(loc, f"{key}.file",
                                    "missing: the LoRA file, relative to the pack"))
            continue
        weight = entry.get("weight", 1.0)
        msg = weight_problem(weight)
        if msg:
            problems.append(Problem(loc, f"{key}.weight", msg))
            continue
        path = (toml.parent / file).resolve()
        suffix = path.suffix.lower()
        if suffix not in SAFE_SUFFIXES + PICKLE_SUFFIXES:
            problems.append(Problem(loc, f"{key}.file", f"unknown LoRA format {suffix or file!r}; "
                                    "expected a .safetensors file"))
        elif not path.is_file():
            problems.append(Problem(loc, f"{key}.file", f"file not found: {path}"))
        else:
            out.append(LoraFile(path, float(weight), line))
    return out


def _array_table_lines(text: str, name: str) -> list[int]:
    """Lines of each ``[[name]]`` header, or of each ``{`` in an inline ``name = [...]``."""
    header = re.compile(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]")
    lines = [n for n, line in enumerate(text.splitlines(), 1) if header.match(line)]
    if lines:
        return lines
    inline = re.compile(rf"^\s*{re.escape(name)}\s*=")
    found, inside = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if not inside and inline.match(line):
            inside = True
        if inside:
            found += [n] * line.count("{")
            if "]" in line and line.count("[") <= line.count("]"):
                break
    return found


def weight_problem(weight: Any) -> str | None:
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        return f"weight must be a number, got {type(weight).__name__}"
    if not math.isfinite(weight) or abs(weight) > WEIGHT_LIMIT:
        return f"weight must be between {-WEIGHT_LIMIT:g} and {WEIGHT_LIMIT:g}, got {weight}"
    return None


def _type(types: tuple[type, ...]) -> str:
    names = {str: "a string", list: "an array", dict: "a table"}
    return " or ".join(names.get(t, t.__name__) for t in types)
