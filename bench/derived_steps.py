"""Benchmark: the cost of each derived step on one 1024×1024 image (PBR maps, key cutout).

Times ``assetforge_pbr``'s ``make_map`` for the normal, height, roughness and ao maps of a tiled
texture (wrap-around neighbours on both axes, the default parameters), and
``assetforge_cutout``'s colour-key cutout of a shape on a flat background (default tolerance and
feather, with bleeding), as the build calls them: PIL image in, PIL image out. Each figure is the
median of ``--runs`` runs after one warm-up. The baseline, in the same process, is encoding the
same image as PNG (which the build does for every output anyway): a step's ratio to it says what
the step adds to writing the file. Target: normal map <= 50 ms.

    .venv/bin/python bench/derived_steps.py [--size 1024] [--runs 9]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
from assetforge_cutout.matte import key_cutout
from assetforge_pbr.config import MapOptions
from assetforge_pbr.plugin import make_map, map_params
from PIL import Image, ImageDraw, ImageFilter

from assetforge.api import DerivedFile

NORMAL_TARGET_MS = 50.0


def texture(size: int) -> Image.Image:
    """A deterministic stone-like texture: smoothed noise plus a grid of darker grooves."""
    rng = np.random.default_rng(7)
    noise = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    image = noise.filter(ImageFilter.GaussianBlur(3))
    draw = ImageDraw.Draw(image)
    for i in range(0, size, size // 8):
        draw.line([(i, 0), (i, size)], fill=(40, 40, 40), width=3)
        draw.line([(0, i), (size, i)], fill=(40, 40, 40), width=3)
    return image


def sprite(size: int) -> Image.Image:
    """An anti-aliased disc on a flat background (drawn at 2× and halved)."""
    big = Image.new("RGB", (2 * size, 2 * size), (30, 180, 60))
    ImageDraw.Draw(big).ellipse([size // 2, size // 3, 3 * size // 2, 5 * size // 3],
                                fill=(200, 40, 30))
    return big.resize((size, size), Image.Resampling.BOX)


def timed_ms(step: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, best) of ``runs`` timings in ms, after one warm-up (first-call imports)."""
    step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, min(times) * 1000


def report(size: int = 1024, runs: int = 9) -> None:
    """Time each derived step on a ``size``² image and print the figures (bench/graph.py too)."""
    tex, cut = texture(size), sprite(size)
    options = MapOptions(("normal", "height", "roughness", "ao"))
    files = {name: DerivedFile(name, f"t_{name}.png", map_params(name, options, ["x", "y"]))
             for name in options.maps}

    def png() -> bytes:
        buf = io.BytesIO()
        tex.save(buf, format="PNG")
        return buf.getvalue()

    baseline, baseline_best = timed_ms(png, runs)
    print(f"derived steps on a {size}x{size} image, median (best) of {runs} runs "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"  {'baseline: PNG encode':24s} {baseline:8.1f} ms ({baseline_best:.1f})")
    figures = {}
    for name, file in files.items():
        # make_map reads everything from file.params; the project is not used.
        figures[f"pbr {name}"] = timed_ms(lambda f=file: make_map(tex, f, None), runs)
    figures["cutout key"] = timed_ms(lambda: key_cutout(cut, 32, 1, False), runs)
    for name, (ms, best) in figures.items():
        print(f"  {name:24s} {ms:8.1f} ms ({best:.1f})   {ms / baseline:5.2f}x PNG encode")
    normal = figures["pbr normal"][0]
    verdict = "met" if normal <= NORMAL_TARGET_MS else "MISSED"
    print(f"normal map target <= {NORMAL_TARGET_MS:.0f} ms: {verdict} ({normal:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    report(args.size, args.runs)


if __name__ == "__main__":
    main()
