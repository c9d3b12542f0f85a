"""Benchmark: AssetForge's overhead over a hand-written diffusers loop.

The same N assets (same prompts, seeds, size, steps, scheduler) are generated
  (a) by `Builder.build()` — manifest parsing, planning, plugins, PNG encoding with metadata,
      atomic writes, SQLite records — and
  (b) by a plain loop over one loaded StableDiffusionPipeline,
in the same process, alternating, best of --repeat each. Prints the ratio (target <= 1.03) and
checks that the images are pixel-identical.

    .venv/bin/python bench/overhead.py [--assets 8] [--size 256] [--steps 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIG = """\
[project]
name = "overhead"
seed_salt = "bench"

[models.tiny]
source = "builtin:tiny-sd15"

[kinds.texture]
width = {size}
height = {size}
steps = {steps}
scheduler = "euler_a"
guidance = 7.0
"""


def prompts(n: int) -> list[str]:
    return [f"stone texture variant {i}, game asset" for i in range(n)]


def assetforge_run(root: Path) -> tuple[float, dict[str, np.ndarray]]:
    from PIL import Image

    from assetforge.engine import Builder
    from assetforge.project import load_project

    shutil.rmtree(root / ".assetforge", ignore_errors=True)
    shutil.rmtree(root / "assets", ignore_errors=True)
    t = time.perf_counter()
    builder = Builder(load_project(root))
    result = builder.build()
    builder.close()
    elapsed = time.perf_counter() - t
    assert not result.failed, result.as_dict()
    images = {}
    for a in result.assets:
        with Image.open(root / "assets" / a.outputs[0]) as im:
            images[a.id] = np.asarray(im.convert("RGB"))
    return elapsed, images


def hand_run(folder: Path, n: int, size: int, steps: int) -> tuple[float, dict[str, np.ndarray]]:
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline

    from assetforge.recipe import derive_seed

    t = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    images = {}
    for i, prompt in enumerate(prompts(n)):
        asset = f"t{i:03d}"
        gen = torch.Generator("cpu").manual_seed(derive_seed(asset, "bench"))
        latents = torch.randn((1, 4, size // 8, size // 8), generator=gen)
        out = pipe(prompt=prompt, width=size, height=size, num_inference_steps=steps,
                   guidance_scale=7.0, latents=latents, generator=gen).images[0]
        images[asset] = np.asarray(out.convert("RGB"))
    return time.perf_counter() - t, images


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("ASSETFORGE_MODEL_CACHE",
                          str(Path(__file__).resolve().parents[1] / ".cache" / "models"))
    os.environ["ASSETFORGE_PLUGINS"] = "diffusers"  # the comparison is the bare spine
    from assetforge_diffusers.tiny import ensure_tiny_model

    folder = ensure_tiny_model("tiny-sd15")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "overhead"
        (root / "manifests").mkdir(parents=True)
        (root / "assetforge.toml").write_text(CONFIG.format(size=args.size, steps=args.steps))
        (root / "manifests" / "m.toml").write_text("\n".join(
            f'[texture.t{i:03d}]\nprompt = "{p}"\n' for i, p in enumerate(prompts(args.assets))))
        hand_run(folder, 1, 64, 1)  # warm imports and caches for both sides
        af_times, hand_times = [], []
        for _ in range(args.repeat):
            t_af, af_images = assetforge_run(root)
            t_hand, hand_images = hand_run(folder, args.assets, args.size, args.steps)
            af_times.append(t_af)
            hand_times.append(t_hand)
        identical = all(np.array_equal(af_images[k], hand_images[k]) for k in hand_images)
        ratio = min(af_times) / min(hand_times)
        print(f"{args.assets} assets, {args.size}px, {args.steps} steps, euler_a, CPU")
        print(f"  hand-written loop : best {min(hand_times):.2f} s  "
              f"({', '.join(f'{t:.2f}' for t in hand_times)})")
        print(f"  assetforge build  : best {min(af_times):.2f} s  "
              f"({', '.join(f'{t:.2f}' for t in af_times)})")
        print(f"  ratio assetforge/hand = {ratio:.3f} (target <= 1.03) -> "
              f"{'OK' if ratio <= 1.03 else 'OVER'}")
        print(f"  images identical: {identical}")


if __name__ == "__main__":
    main()
