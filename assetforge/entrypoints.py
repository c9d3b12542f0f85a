"""Entry points of one group, found without importing ``importlib.metadata``.

Every command loads the plugins, and ``importlib.metadata`` costs more to import (email, csv,
zipfile, …) than a no-op build of 10,000 assets may spend on everything else but planning.
This reads the same files it reads, the same way: every ``*.dist-info`` / ``*.egg-info``
folder of each ``sys.path`` directory in ``os.listdir`` order, the first distribution of each
normalized name winning, then its ``entry_points.txt`` and, for a distribution that has entries
in the group, the ``Name`` and ``Version`` headers of its ``METADATA`` (``PKG-INFO``).

Where ``sys.path`` holds something only ``importlib.metadata`` understands (a zip file, an egg,
a finder of its own that lists distributions), that is used instead.
tests/test_entrypoints.py checks both give the same answer.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

_PATTERN = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
_INFO = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class EntryPoint:
    name: str
    value: str
    dist_name: str
    dist_version: str

    def load(self) -> Any:
        """Import the module and return the named attribute (as importlib.metadata does)."""
        match = _PATTERN.match(self.value)
        if match is None:
            raise ValueError(f"invalid entry point value {self.value!r}")
        obj = importlib.import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            obj = getattr(obj, attr)
        return obj


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group``, in the order ``importlib.metadata`` gives them."""
    return list(_entry_points(group, tuple(sys.path)))


def version(dist_name: str) -> str | None:
    """The installed version of distribution ``dist_name`` (None when not installed)."""
    infos = _distributions(tuple(sys.path))
    if infos is not None:
        info = dict(infos).get(_normalize(dist_name))
        headers = _headers(info) if info is not None else None
        if headers is not None:
            return headers[1]
    import importlib.metadata  # not found here, or only importlib.metadata can tell

    try:
        return importlib.metadata.version(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=8)
def _entry_points(group: str, path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    infos = _distributions(path)
    if infos is None:
        return tuple(_from_importlib(group))
    out: list[EntryPoint] = []
    for _name, info in infos:
        text = _read(os.path.join(info, "entry_points.txt"))
        pairs = _section(text, group) if text else []
        if not pairs:
            continue
        headers = _headers(info)
        if headers is None:
            return tuple(_from_importlib(group))
        out += [EntryPoint(n, v, *headers) for n, v in pairs]
    return tuple(out)


def distribution_folders() -> set[str]:
    """The ``sys.path`` folders holding a distribution's metadata (where installing or
    removing a plugin shows)."""
    infos = _distributions(tuple(sys.path)) or ()
    return {os.path.dirname(info) for _name, info in infos}


def _from_importlib(group: str) -> list[EntryPoint]:
    import importlib.metadata

    out = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = ep.dist
        out.append(EntryPoint(ep.name, ep.value, dist.name if dist else "?",
                              dist.version if dist else "0"))
    return out


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


@functools.lru_cache(maxsize=8)
def _distributions(path: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    """(normalized name, metadata folder) of each distribution on ``path``, the first of each
    name only, in importlib.metadata's order; None when only it can tell (module docstring)."""
    from importlib.machinery import PathFinder

    if any(f is not PathFinder and hasattr(f, "find_distributions") for f in sys.meta_path):
        return None
    seen: dict[str, str] = {}
    for entry in path:
        root = entry or "."
        if os.path.basename(root).lower().endswith(".egg"):
            return None
        try:
            children = os.listdir(root)
        except NotADirectoryError:
            return None  # a zip file on sys.path
        except OSError:
            continue  # missing, or a path-hook name like '__editable__.x.finder.__path_hook__'
        for child in children:
            low = child.lower()
            if low.endswith(_INFO):
                name = _normalize(low.rpartition(".")[0].partition("-")[0])
                seen.setdefault(name, os.path.join(root, child))
    return tuple(seen.items())


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """``name = value`` pairs of section ``[group]`` (importlib.metadata's ``Sectioned``)."""
    out = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section == group:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _headers(info: str) -> tuple[str, str] | None:
    """(Name, Version) from METADATA or PKG-INFO; None when neither can be read."""
    text = _read(os.path.join(info, "METADATA")) or _read(os.path.join(info, "PKG-INFO"))
    if text is None:
        return None
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # end of the headers
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version") and key not in found:
            found[key] = value.strip()
    if "Name" not in found or "Version" not in found:
        return None
    return found["Name"], found["Version"]
