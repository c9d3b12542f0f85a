"""Benchmark: the first build of N file-sourced assets, as a whole ``assetforge build`` process.

Each asset is ``image = "art/iNNNNN.png"`` (an 8×8 PNG of random pixels), spread over 20
manifest files; every installed plugin is loaded (qa judges each image, its near-duplicate
check included). A first build copies each image into the outputs, records it and caches it:
its cost per asset must not grow with the project (issue 16: ≤ 3 ms each, and the per-asset
time at 10,000 at most 1.3 × the time at 1,000). ``--profile`` adds a cProfile of the largest
run, in process, by cumulative time.

    .venv/bin/python bench/first_build.py [--sizes 1000 10000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic import write_project

CONFIG = """\
[project]
name = "first-build"
seed_salt = "bench"
"""
FILES = 20


def make_project(root: Path, n: int) -> None:
    from PIL import Image

    art = root / "art"
    art.mkdir(parents=True)
    rng = random.Random(n)
    for i in range(n):
        Image.frombytes("RGB", (8, 8), rng.randbytes(8 * 8 * 3)).save(art / f"i{i:05d}.png")
    write_project(root, CONFIG, n, per_file=max(1, -(-n // FILES)),
                  body=lambda i: f'image = "art/i{i:05d}.png"')


def build_process(root: Path) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "assetforge", "build"], cwd=root,
                         capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t
    if res.returncode != 0:
        sys.exit(f"build failed ({res.returncode}):\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
    return elapsed, res.stdout.strip().splitlines()[-1]


def profile_in_process(root: Path) -> str:
    from click.testing import CliRunner

    from assetforge.cli import cli

    prof = cProfile.Profile()
    prof.enable()
    res = CliRunner().invoke(cli, ["--project", str(root), "build"])
    prof.disable()
    assert res.exit_code == 0, res.output
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    per_asset: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            root = Path(tmp) / f"p{n}"
            make_project(root, n)
            if args.profile and n == max(args.sizes):
                print(profile_in_process(root))
                continue
            elapsed, summary = build_process(root)
            per_asset[n] = elapsed / n
            print(f"first build of {n} file-sourced assets: {elapsed:.2f} s, "
                  f"{per_asset[n] * 1000:.2f} ms per asset (target <= 3 ms: "
                  f"{'OK' if per_asset[n] <= 0.003 else 'OVER'}); {summary}")
    if len(per_asset) >= 2:
        small, large = min(per_asset), max(per_asset)
        ratio = per_asset[large] / per_asset[small]
        print(f"per-asset time at {large} / at {small}: {ratio:.2f} "
              f"(target <= 1.3: {'OK' if ratio <= 1.3 else 'OVER'})")


if __name__ == "__main__":
    main()
