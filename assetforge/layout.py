"""Where a project's files are, found with ``os`` alone: the no-op fast path (noopstamp.py)
answers before anything heavier is imported, and project.py builds on the same answers."""

from __future__ import annotations

import os

CONFIG_NAME = "assetforge.toml"
DEFAULT_DATABASE = ".assetforge/assetforge.db"


def static_prefix(pattern: str) -> str:
    """The folder part of a glob before its first wildcard (``manifests/**/*.toml`` →
    ``manifests``)."""
    parts = []
    for part in pattern.replace("\\", "/").split("/")[:-1]:
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return "/".join(parts)


def config_root(start: str) -> str | None:
    """The nearest folder from ``start`` upward holding assetforge.toml (as git finds .git)."""
    d = os.path.realpath(start)
    while True:
        if os.path.isfile(os.path.join(d, CONFIG_NAME)):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
