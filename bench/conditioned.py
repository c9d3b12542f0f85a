"""Benchmark: img2img and ControlNet jobs against plain txt2img on the tiny SD 1.5, one process.

Loads the model once, then times (median of --repeat runs each) a plain job, an img2img job
(strength 0.75, so 3 of 4 steps) and a ControlNet job, plus the one-off costs: deriving the
img2img and ControlNet pipelines with ``from_pipe`` (the first conditioned job of a build) and
loading the builtin ControlNet, as ratios to loading the model. Deriving must be a small
fraction of a load (target <= 0.05: nothing is loaded twice).

    .venv/bin/python bench/conditioned.py [--size 64] [--steps 4] [--repeat 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    from assetforge_diffusers import conditions, tiny_controlnet, variants
    from assetforge_diffusers.generator import DiffusersGenerator
    from PIL import Image, ImageDraw

    from assetforge.api import AssetSpec, GenerationContext, InputRef, Job, SourceFile
    from assetforge.project import load_project

    torch.set_num_threads(args.threads)
    tiny_controlnet.ensure_tiny_controlnet("tiny-controlnet-sd15")  # built once, not timed
    root = Path(tempfile.mkdtemp(prefix="af-bench-cond-"))
    (root / "assetforge.toml").write_text(
        '[project]\nname = "b"\n[models.m]\nsource = "builtin:tiny-sd15"\n'
        '[controlnets.pose]\nsource = "builtin:tiny-controlnet-sd15"\n')
    disc = Image.new("RGB", (args.size, args.size))
    ImageDraw.Draw(disc).ellipse((args.size // 4, args.size // 4, 3 * args.size // 4,
                                  3 * args.size // 4), fill="white")
    disc.save(root / "disc.png")
    project = load_project(root)
    gen = DiffusersGenerator()
    gen.identify(project.models["m"], project)
    t0 = time.perf_counter()
    pipe = gen.load(project.models["m"], project)
    load_s = time.perf_counter() - t0

    def job(fields: dict, inputs: dict[str, str]) -> Job:
        spec = AssetSpec("a", "texture", fields, SourceFile(root / "m.toml", ""))
        refs = {n: InputRef(n, r, root / r, "sha256:unused") for n, r in inputs.items()}
        return Job("a", "texture", None, "a wall", "", 1, args.size, args.size, args.steps,
                   5.0, "default", "m", "a.png", spec, refs)

    jobs = {
        "txt2img": job({}, {}),
        "img2img": job({"init_image": "disc.png"}, {"init_image": "disc.png"}),
        "controlnet": job({"control": {"image": "disc.png", "model": "pose"}},
                          {"control.0.image": "disc.png"}),
    }

    def run(j: Job) -> float:
        t = time.perf_counter()
        gen.generate(pipe, j, GenerationContext(project, j, {}, pipe, gen.name))
        return time.perf_counter() - t

    t = time.perf_counter()
    variants.derived(pipe, "StableDiffusionImg2ImgPipeline", [])
    derive_img2img_s = time.perf_counter() - t
    t = time.perf_counter()
    net = variants.controlnet(pipe, project, "pose")
    controlnet_load_s = time.perf_counter() - t
    t = time.perf_counter()
    variants.derived(pipe, conditions.CONTROLNET["sd15"], [net])
    derive_controlnet_s = time.perf_counter() - t

    times = {name: statistics.median(run(j) for _ in range(args.repeat))
             for name, j in jobs.items()}
    print(f"tiny sd15, {args.size}px, {args.steps} steps, {args.threads} thread(s), "
          f"median of {args.repeat}")
    print(f"model load                 {load_s:8.3f} s")
    print(f"derive img2img (from_pipe) {derive_img2img_s:8.4f} s  "
          f"{derive_img2img_s / load_s:.4f} x load")
    print(f"derive controlnet          {derive_controlnet_s:8.4f} s  "
          f"{derive_controlnet_s / load_s:.4f} x load")
    print(f"load builtin controlnet    {controlnet_load_s:8.4f} s  "
          f"{controlnet_load_s / load_s:.4f} x load")
    for name, s in times.items():
        print(f"{name:<26} {s:8.4f} s  {s / times['txt2img']:.2f} x txt2img")


if __name__ == "__main__":
    sys.exit(main())
