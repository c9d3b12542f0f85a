"""Shared pieces of the exports plugin's tests: sprite images, a small asset graph, inputs.

The atlas and tileset steps are called directly (``run(spec, inputs, project, previous)``)
on PNG files written here, with ``InputRef``s made exactly as the contract describes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from assetforge.api import AssetStep, InputRef, StepResult, file_sha256


def sprite(width: int, height: int, seed: int, border: tuple[int, int, int, int] = (0, 0, 0, 0)
           ) -> Image.Image:
    """An RGBA sprite of random opaque pixels inside a transparent border (left, top, right,
    bottom); transparent pixels are (0, 0, 0, 0), as engines give them back."""
    rng = np.random.default_rng(seed)
    data = np.zeros((height, width, 4), np.uint8)
    left, top, right, bottom = border
    inner = data[top:height - bottom, left:width - right]
    inner[..., :3] = rng.integers(0, 256, inner.shape[:2] + (3,), dtype=np.uint8)
    inner[..., 3] = 255
    # Ragged transparency inside the border too, so trimming keeps interior holes.
    if inner.shape[0] > 2 and inner.shape[1] > 2:
        holes = rng.random(inner.shape[:2]) < 0.1
        holes[0, :] = holes[-1, :] = holes[:, 0] = holes[:, -1] = False
        inner[holes] = 0
    return Image.fromarray(data, "RGBA")


@dataclass
class Graph:
    """The asset graph the core hands a step: ids with kind, views and output path."""

    root: Path
    assets: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def ids(self) -> list[str]:
        return list(self.assets)

    def kind(self, asset_id: str) -> str:
        return self.assets[asset_id][0]

    def views(self, asset_id: str) -> list[str]:
        return list(self.assets[asset_id][1])

    def output(self, asset_id: str, view: str | None = None) -> str:
        folder = {"character": "characters", "tile": "tiles"}.get(self.kind(asset_id), "textures")
        return f"{folder}/{asset_id}_{view}.png" if view else f"{folder}/{asset_id}.png"

    def add(self, asset_id: str, kind: str, images: Image.Image | dict[str, Image.Image]
            ) -> None:
        """Register an asset and write its output(s) under ``root/assets``."""
        views = list(images) if isinstance(images, dict) else []
        self.assets[asset_id] = (kind, views)
        for view, img in (images.items() if isinstance(images, dict) else [(None, images)]):
            path = self.path(asset_id, view)
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path)

    def path(self, asset_id: str, view: str | None = None) -> Path:
        return self.root / "assets" / self.output(asset_id, view)

    def remove(self, asset_id: str) -> None:
        del self.assets[asset_id]


def resolve(graph: Graph, pairs: list[tuple[str, str]]) -> dict[str, InputRef]:
    """What the core does with a step's (name, ref) pairs: resolve and hash each file."""
    out = {}
    for name, ref in pairs:
        asset, _, view = ref.removeprefix("@").partition(":")
        path = graph.path(asset, view or None)
        out[name] = InputRef(name, ref, path, file_sha256(path), asset, view or None)
    return out


def build(step: AssetStep, spec: Any, graph: Graph, project: Any,
          previous: dict[str, Any] | None = None) -> tuple[list[tuple[str, str]], StepResult]:
    """Plan and run ``step`` for ``spec`` as the core would: inputs → resolve → run; the
    result's state must survive a JSON round trip (the core stores it)."""
    pairs = step.inputs(spec, graph, previous)
    result = step.run(spec, resolve(graph, pairs), project, previous)
    assert json.loads(json.dumps(result.state)) == result.state
    return pairs, result


def write(result: StepResult, folder: Path) -> None:
    for rel, data in result.files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def rgba(img: Image.Image) -> np.ndarray:
    """Pixels with fully transparent ones zeroed: what an engine shows for them."""
    data = np.asarray(img.convert("RGBA")).copy()
    data[data[..., 3] == 0] = 0
    return data
