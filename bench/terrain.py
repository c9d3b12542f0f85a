"""Benchmark: the terrain step. A blob set (48 tiles) at 32 px and at 64 px from two file
textures without a transition — the whole step: load both, resize, compose, check every
seam, encode the PNGs and write the .tsx/.tres/.godot3.tres (target <= 1 s each); the same with
a transition painted by the tiny model; and the largest seam ratio over every allowed pair of
every set built here (target <= 1.5).

Baseline in the same process: loading the two textures and encoding one PNG of the set's size
(the I/O no terrain step can avoid); the step's time is also printed as a ratio of it.

    .venv/bin/python bench/terrain.py [--runs 3] [--texture 256]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))

CONFIG = """\
[project]
name = "bench"
output_dir = "assets"
seed_salt = "bench"
default_model = "tiny"

[models.tiny]
source = "builtin:tiny-sd15"

[generation]
threads = 1
"""


def texture(size: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.random((size, size, 3)) * 255
    for _ in range(2):  # wrap-around blur: it still tiles
        base = sum(np.roll(base, (dy, dx), axis=(0, 1))
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    buf = io.BytesIO()
    Image.fromarray(base.astype(np.uint8), "RGB").save(buf, "PNG")
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--texture", type=int, default=256, help="side of the file textures")
    args = ap.parse_args()

    from assetforge_terrain import layout, plugin, seams
    from assetforge_terrain.step import TERRAIN_STEP

    from assetforge.api import AssetSpec, InputRef, SourceFile, file_sha256
    from assetforge.project import load_project

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "assetforge.toml").write_text(CONFIG)
        (root / "manifests").mkdir()
        (root / "manifests" / "t.toml").write_text("")
        paths = {}
        for role, seed in (("lower", 1), ("upper", 2)):
            p = root / f"{role}.png"
            p.write_bytes(texture(args.texture, seed))
            paths[role] = p
        inputs = {r: InputRef(r, f"@{r}", p, file_sha256(p)) for r, p in paths.items()}
        project = load_project(root)
        source = SourceFile(root / "manifests" / "t.toml", "")

        def spec(lay: str, size: int, transition: bool) -> AssetSpec:
            fields = {"terrains": ["@lower", "@upper"], "layout": lay, "tile_size": size,
                      "filter": "smooth"}
            if transition:
                fields["transition"] = {"prompt": "pebbles where the terrains meet",
                                        "strength": 0.5, "steps": 8}
            s = AssetSpec("bench_set", "terrain", fields, source)
            plugin.expand_spec(spec=s, project=project)
            return s

        def run_step(s: AssetSpec) -> tuple[float, dict[str, bytes]]:
            t0 = time.perf_counter()
            result = TERRAIN_STEP.run(s, inputs, project, None)
            out = root / "out"
            for rel, data in result.files.items():  # the files, written as a build would
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).write_bytes(data)
            return time.perf_counter() - t0, result.files

        def baseline(size: int) -> float:
            t0 = time.perf_counter()
            for p in paths.values():
                with Image.open(p) as im:
                    im.load()
            sheet = Image.new("RGBA", (8 * size, 6 * size), (10, 20, 30, 255))
            sheet.save(io.BytesIO(), "PNG", compress_level=6)
            return time.perf_counter() - t0

        worst = 0.0

        def measure(files: dict[str, bytes], lay: str, size: int) -> float:
            with Image.open(io.BytesIO(next(iter(files.values())))) as im:
                data = np.asarray(im.convert("RGBA"), dtype=np.float64)
            cols = layout.DEFAULT_COLUMNS[lay]
            tiles = layout.tiles_of(lay)
            imgs = [data[(i // cols) * size:(i // cols + 1) * size,
                         (i % cols) * size:(i % cols + 1) * size] for i in range(len(tiles))]
            return seams.check_set(imgs, tiles, lay).worst

        print(f"terrain step, two {args.texture}x{args.texture} file textures, "
              f"median of {args.runs} runs")
        for size in (32, 64):
            run_step(spec("blob", size, False))  # warm imports
            times, base = [], []
            for _ in range(args.runs):
                base.append(baseline(size))
                took, files = run_step(spec("blob", size, False))
                times.append(took)
            t, b = statistics.median(times), statistics.median(base)
            w = measure(files, "blob", size)
            worst = max(worst, w)
            print(f"  blob {size:>2} px, no transition: {t:.3f} s (target <= 1 s; "
                  f"{t / b:.1f}x the I/O baseline {b:.3f} s), worst seam {w:.3f}")
            took, files = run_step(spec("corner", size, False))
            w = measure(files, "corner", size)
            worst = max(worst, w)
            print(f"  corner {size:>2} px, no transition: {took:.3f} s, worst seam {w:.3f}")
        for lay in ("blob", "corner"):
            first, files = run_step(spec(lay, 32, True))
            took, files = run_step(spec(lay, 32, True))
            w = measure(files, lay, 32)
            worst = max(worst, w)
            print(f"  {lay} 32 px, transition on the tiny model (8 steps, strength 0.5): "
                  f"{took:.3f} s (first run with the model load {first:.3f} s), "
                  f"worst seam {w:.3f}")
        print(f"largest seam ratio over every allowed pair of every set: {worst:.3f} "
              f"(target <= {seams.BOUND})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
