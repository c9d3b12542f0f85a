"""A synthetic project of N textures for the benchmarks (``t00000`` … in files of ``per_file``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def write_project(root: Path, config: str, n: int, per_file: int = 100,
                  prompt: str = "dungeon texture {i}",
                  body: Callable[[int], str | None] | None = None) -> list[Path]:
    """Write assetforge.toml and the manifests; return the manifest files.

    ``body(i)``, when given and not None, replaces asset i's ``prompt = …`` line (e.g. an
    image input)."""
    (root / "manifests").mkdir(parents=True)
    (root / "assetforge.toml").write_text(config)
    files = []
    for f in range(0, n, per_file):
        entries = [f'[texture.t{i:05d}]\n'
                   + ((body(i) if body else None) or f'prompt = "{prompt.format(i=i)}"') + "\n"
                   for i in range(f, min(n, f + per_file))]
        path = root / "manifests" / f"m{f // per_file:03d}.toml"
        path.write_text("\n".join(entries))
        files.append(path)
    return files
