"""The paths of ``[project]`` never touch a project file: checked at load, before anything is
read or written.

AssetForge writes the database (and moves it aside in ``repair``), writes outputs into
``output_dir``, deletes from ``cache_dir`` (``gc``) and imports every ``.py`` in
``plugins_dir``. So none of them may be, hold, or lie inside the config, a manifest, a model's
weights, or one another: ``database = "assetforge.toml"`` would make ``repair`` move the
config aside, ``output_dir = "."`` puts outputs among the sources, ``cache_dir =
"manifests"`` lets ``gc`` delete manifests. Input files named by manifests are checked with the
manifests (``input_guard``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import Problem

if TYPE_CHECKING:
    from .project import Project

MAGIC = "*?["


def _abs(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop of links, or a path no file system holds
        return Path(path).absolute()


def overlap(a: Path, b: Path) -> str | None:
    """How ``a`` and ``b`` (absolute) meet: "is", "lies inside", "holds", or None."""
    if a == b:
        return "is"
    if a.is_relative_to(b):
        return "lies inside"
    if b.is_relative_to(a):
        return "holds"
    return None


def _glob_root(root: Path, pattern: str) -> Path:
    """The folder every match of ``pattern`` lies in (its parts before the first wildcard;
    the file itself when there is none)."""
    fixed = []
    for part in Path(pattern).parts:
        if any(c in part for c in MAGIC):
            break
        fixed.append(part)
    return root.joinpath(*fixed)


def _weights(project: Project) -> list[tuple[str, Path]]:
    """(label, path) of each model and ControlNet source (and config folder) on disk."""
    out = []
    for section in ("models", "controlnets"):
        for name, table in project.config.get(section, {}).items():
            if not isinstance(table, dict):
                continue
            for key in ("source", "config"):
                value = table.get(key)
                if not isinstance(value, str) or not value or ":" in value.split("/")[0]:
                    continue  # builtin:…, a URL, a hub id's revision: not a local path
                path = project.resolve_path(value)
                if path.exists():
                    out.append((f"{section}.{name}.{key} ({value})", _abs(path)))
    return out


def path_conflicts(project: Project) -> list[Problem]:
    """Every ``[project]`` path that is, holds or lies inside a project file or another of
    them, located at its line in assetforge.toml."""
    root = _abs(project.root)
    ours: list[tuple[str, str, Path, bool]] = []  # (key reported, label, path, is a folder)
    db_key = "database"
    ours.append((db_key, "database", _abs(project.database), False))
    ours.append(("output_dir", "output_dir", _abs(project.output_dir), True))
    if project.cache_url is None and project.cache_dir_override is None:
        cache_key = "cache_dir" if project.setting("cache_dir") else db_key
        label = ("cache_dir" if project.setting("cache_dir")
                 else "cache_dir (by default 'objects' beside the database)")
        ours.append((cache_key, label, _abs(project.cache_dir), True))
    if project.plugins_dir is not None:
        ours.append(("plugins_dir", "plugins_dir", _abs(project.plugins_dir), True))

    theirs: list[tuple[str, Path]] = [("the config", _abs(project.config_path))]
    theirs += _weights(project)
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()

    def bad(key: str, message: str) -> None:
        if (key, message) not in seen:
            seen.add((key, message))
            problems.append(Problem(project.where("project", key), f"project.{key}",
                                    message + ": AssetForge would overwrite, move or delete "
                                    "it; choose a path of its own"))

    for key, label, path, _folder in ours:
        for what, other in theirs:
            how = overlap(path, other)
            if how:
                bad(key, f"{label} {how} {what}")
    given = project.config.get("project", {})
    inverse = {"is": "is", "lies inside": "holds", "holds": "lies inside"}
    for i, (key, label, path, _folder) in enumerate(ours):
        for key2, label2, path2, _f2 in ours[i + 1:]:
            how = overlap(path, path2)
            if how and key not in given and key2 in given:  # blame the path that was set
                bad(key2, f"{label2} {inverse[how]} {label}")
            elif how:
                bad(key, f"{label} {how} {label2}")
    # Manifests: listed only when one of our paths meets the folder the globs search.
    for pattern in project.manifest_globs:
        if not isinstance(pattern, str) or not pattern.strip():
            continue
        base = _abs(_glob_root(root, pattern))
        near = [(k, lbl, p) for k, lbl, p, _f in ours if overlap(p, base)]
        if not near:
            continue
        try:
            matches = list(root.glob(pattern))
        except (ValueError, NotImplementedError, OSError):
            continue  # a bad glob: reported with the manifests
        for match in matches:
            m = _abs(match)
            for key, label, path in near:
                how = overlap(path, m)
                if how:
                    bad(key, f"{label} {how} the manifest {project.rel(match)}")
    return problems


def input_guard(project: Project) -> Callable[[Path], str | None]:
    """A check of resolved input files (``image = "path"`` and the like): why one may not be
    where it is (the database, inside output_dir or the output cache, where AssetForge
    overwrites and deletes), or None. The project's paths are resolved once, not per input."""
    where = {"database": project.where("project", "database").line,
             "output_dir": project.where("project", "output_dir").line,
             "cache_dir": project.where("project", "cache_dir").line}
    ours = [("database", "is", _abs(project.database)),
            ("output_dir", "lies inside", _abs(project.output_dir))]
    if project.cache_url is None:
        ours.append(("cache_dir", "lies inside", _abs(project.cache_dir)))
    config = project.config_path.name

    def check(path: Path) -> str | None:
        for key, how, folder in ours:
            if path == folder or (how == "lies inside" and path.is_relative_to(folder)):
                line = f":{where[key]}" if where[key] else ""
                return (f"{how} {key} ({project.rel(folder)}, {config}{line}), where "
                        "AssetForge writes, moves and deletes files: keep inputs elsewhere")
        return None

    return check
