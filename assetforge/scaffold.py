"""``assetforge init``: a small project that builds as it is (on the tiny builtin model)."""

from __future__ import annotations

from pathlib import Path

from .errors import UserError
from .project import CONFIG_NAME

CONFIG = """\
[project]
name = "{name}"
output_dir = "assets"
seed_salt = "{name}"
default_model = "tiny"

[models.tiny]
# A tiny model that paints noise, built locally: swap in real weights with e.g.
#   source = "/models/sd15"                       (a diffusers folder)
#   source = "/models/dreamshaper.safetensors"    (a single-file checkpoint)
#   source = "stable-diffusion-v1-5/stable-diffusion-v1-5"   (a hub id, when online)
source = "builtin:tiny-sd15"

[kinds.texture]
width = 256
height = 256
steps = 10

[kinds.character]
width = 128
height = 256
steps = 10
"""

MANIFEST = """\
[texture.grass]
prompt = "lush grass, top-down, game texture"

[character.knight]
prompt = "a knight in silver armour, full body, game sprite"
negative_prompt = "blurry"
seed = 1234
views = ["front", "side"]
"""

GITIGNORE = """\
.assetforge/
"""


def scaffold(directory: Path, name: str | None = None) -> list[Path]:
    """Write a starter project; refuses to touch an existing project."""
    directory = directory.resolve()
    if (directory / CONFIG_NAME).exists():
        raise UserError(f"{directory / CONFIG_NAME} already exists; not overwriting it")
    name = name or directory.name
    files = {
        directory / CONFIG_NAME: CONFIG.format(name=name),
        directory / "manifests" / "example.toml": MANIFEST,
        directory / ".gitignore": GITIGNORE,
    }
    for path in files:
        if path.exists() and path.name != ".gitignore":
            raise UserError(f"{path} already exists; not overwriting it")
    created = []
    for path, text in files.items():
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        created.append(path)
    return created
