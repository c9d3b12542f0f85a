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


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: on a busy 2-core machine OpenMP spinning makes two
    threads up to 10x slower. (Thread count can change CPU results by a grey level, so tests
    that compare images generate both sides under the same setting.)"""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def sd15() -> Path:
    """The tiny SD 1.5 diffusers folder (built on first use)."""
    from assetforge_diffusers.tiny import ensure_tiny_model

    return ensure_tiny_model("tiny-sd15")
