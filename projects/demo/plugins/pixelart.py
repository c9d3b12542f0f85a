"""Pixel-art post-processor for tiles: the demo's "your first plugin".

A project-local plugin: assetforge.toml names this folder with ``plugins_dir = "plugins"`` and
every ``.py`` file in it is loaded. Manifests opt in per tile:

    [tile.chest]
    prompt = "a wooden chest"
    pixel_art = { size = 16, colors = 8 }

The image is downscaled with nearest-neighbour sampling to ``size``×``size`` and quantized to
an adaptive ``colors``-colour palette without dithering. Both settings change the output bytes,
so both go into the recipe: change one and the tile rebuilds.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from assetforge.api import GenerationContext, Job, ManifestKey, PostProcessor, RecipePart, hookimpl

__version__ = "1.0"
NAME = "pixelart"
ORDER = 200  # after upscaling (100): pixel art is the last word on a tile's pixels


def _check(value: dict[str, Any]) -> str | None:
    unknown = set(value) - {"size", "colors"}
    if unknown:
        return f"unknown setting(s) {', '.join(sorted(unknown))}; expected size and colors"
    size, colors = value.get("size", 16), value.get("colors", 16)
    if not isinstance(size, int) or isinstance(size, bool) or not 4 <= size <= 256:
        return "size must be an integer from 4 to 256"
    if not isinstance(colors, int) or isinstance(colors, bool) or not 2 <= colors <= 256:
        return "colors must be an integer from 2 to 256"
    return None


def settings(job: Job) -> dict[str, int] | None:
    value = job.spec.get("pixel_art")
    if value is None:
        return None
    return {"size": value.get("size", 16), "colors": value.get("colors", 16)}


def pixelate(image: Image.Image, size: int, colors: int) -> Image.Image:
    small = image.convert("RGB").resize((size, size), Image.Resampling.NEAREST)
    quantized = small.quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                               dither=Image.Dither.NONE)
    return quantized.convert("RGB")


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """``pixel_art = {size, colors}`` on tiles."""
    return [ManifestKey("pixel_art", (dict,), "pixel-art post-process: {size = 16, colors = 8}",
                        kinds=("tile",), check=_check,
                        schema={"additionalProperties": False, "properties": {
                            "size": {"type": "integer", "minimum": 4, "maximum": 256},
                            "colors": {"type": "integer", "minimum": 2, "maximum": 256}}})]


@hookimpl
def recipe_parts(job: Job) -> RecipePart | None:
    """The size and palette change the bytes, so they are part of the cache key."""
    s = settings(job)
    return RecipePart(NAME, __version__, s) if s else None


def _process(image: Image.Image, ctx: GenerationContext) -> Image.Image:
    s = settings(ctx.job)
    assert s is not None
    return pixelate(image, s["size"], s["colors"])


@hookimpl
def register_postprocessors() -> list[PostProcessor]:
    """Runs last on tiles that ask for it."""
    return [PostProcessor(NAME, ORDER, _process, applies=lambda job: settings(job) is not None)]
