"""Shared fixtures: temporary projects on the tiny builtin models."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tiny models are built once per machine and reused across runs (deterministic builds).
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BASE_CONFIG = """\
[project]
name = "testgame"
output_dir = "assets"
seed_salt = "test"

[models.tiny]
source = "builtin:tiny-sd15"

[kinds.texture]
width = 64
height = 64
steps = 2

[kinds.character]
width = 64
height = 64
steps = 2

[kinds.tile]
width = 64
height = 64
steps = 2
"""


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Create a project folder: ``make_project({"manifests/a.toml": "..."}, config=...)``.

    ``config`` replaces the default assetforge.toml; ``extra_config`` is appended to it.
    """

    def make(files: dict[str, str | bytes] | None = None, *, config: str = BASE_CONFIG,
             extra_config: str = "", name: str = "proj") -> Path:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        (root / "assetforge.toml").write_text(config + textwrap.dedent(extra_config))
        for rel, content in (files or {}).items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(textwrap.dedent(content))
        return root

    return make
