"""Near-duplicates: the perceptual hash (``imagehash.phash``) of every output in output_dir.

Hashes are remembered by (path, size, mtime_ns) in memory and in ``<state>/qa-phash.json``,
so a build hashes each existing output once, not once per generated image.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .checks import hamming

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import Project

CACHE_NAME = "qa-phash.json"
_MEMORY: dict[str, tuple[int, int, int]] = {}  # path -> (size, mtime_ns, hash)


def phash(image: Image.Image) -> int:
    import imagehash

    return int(str(imagehash.phash(image.convert("RGB"))), 16)


def _load(project: Project) -> None:
    path = project.state_dir / CACHE_NAME
    if _MEMORY or not path.is_file():
        return
    try:
        for k, v in json.loads(path.read_text("utf-8")).items():
            _MEMORY[k] = (int(v[0]), int(v[1]), int(v[2]))
    except (OSError, ValueError, TypeError, IndexError):
        pass


def _save(project: Project) -> None:
    folder = project.state_dir
    if not folder.is_dir():
        return
    tmp = folder / f"{CACHE_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({k: list(v) for k, v in _MEMORY.items()}))
    os.replace(tmp, folder / CACHE_NAME)


def output_hashes(project: Project, exclude: Path) -> dict[str, int]:
    """relative output path -> perceptual hash, for every PNG under output_dir but ``exclude``."""
    from PIL import Image

    _load(project)
    root = project.output_dir
    out: dict[str, int] = {}
    changed = False
    for path in sorted(root.rglob("*.png")) if root.is_dir() else []:
        if path == exclude or path.name.startswith("."):
            continue
        st = path.stat()
        key = str(path)
        hit = _MEMORY.get(key)
        if hit is None or hit[0] != st.st_size or hit[1] != st.st_mtime_ns:
            try:
                with Image.open(path) as im:
                    hit = (st.st_size, st.st_mtime_ns, phash(im))
            except OSError:
                continue
            _MEMORY[key] = hit
            changed = True
        out[path.relative_to(root).as_posix()] = hit[2]
    if changed:
        _save(project)
    return out


def nearest(image: Image.Image, project: Project, own: Path) -> tuple[str, int] | None:
    """The output most like ``image`` (path, Hamming distance), or None when there is none."""
    mine = phash(image)
    best: tuple[str, int] | None = None
    for rel, h in output_hashes(project, own).items():
        d = hamming(mine, h)
        if best is None or d < best[1]:
            best = (rel, d)
    return best
