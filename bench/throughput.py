"""Benchmark: batched generation throughput on the CPU, AssetForge against a hand-written loop.

Builds the same N textures (default 32 of 64 px) on the tiny SD 1.5 model with
``[models.tiny] batch = 1, 4, 8`` through ``assetforge.engine`` (plan, generate, PNG, write,
record), each after the model is loaded and the project's database created (both once per
project, not per build), and runs the same jobs as a hand-written batched diffusers loop (one
pipeline, per-image CPU generators, ``output_type="pil"``, nothing written).
Prints images/s for each (the best of ``--repeat`` alternating runs), AssetForge's batch-N
speed-up over batch 1, and AssetForge against the hand loop at the same batch size (target:
within 1.05x), twice: against the loop that writes nothing, and against the same loop saving
each image as a PNG (as a script that makes assets must). AssetForge encodes, writes, hashes,
caches and records every image: at 64 px and 8 steps (~20 ms an image at batch 8) that shows.

    .venv/bin/python bench/throughput.py [--assets 32] [--size 64] [--steps 8] [--threads N]
                                          [--repeat 3] [--profile]

``--profile`` prints where the hand loop's time goes (torch profiler, by operator) at batch 1
and the largest batch: on a CPU the UNet's convolutions and matmuls already use every core at
batch 1, so batching saves the per-call Python and small-kernel overhead, not arithmetic.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ASSETFORGE_PLUGINS", "diffusers")  # only what is measured

CONFIG = """\
[project]
name = "throughput-bench"
seed_salt = "bench"

[generation]
device = "cpu"

[models.tiny]
source = "builtin:tiny-sd15"
batch = {batch}

[kinds.texture]
width = {size}
height = {size}
steps = {steps}
scheduler = "euler_a"
"""

WORDS = ["brick", "moss", "sand", "lava", "ice", "wood", "stone", "grass", "metal", "cloth"]


def prompt(i: int) -> str:
    return f"{WORDS[i % len(WORDS)]} texture number {i}, {WORDS[(i * 7) % len(WORDS)]} detail"


def make_project(root: Path, n: int, size: int, steps: int, batch: int) -> None:
    (root / "manifests").mkdir(parents=True)
    (root / "assetforge.toml").write_text(CONFIG.format(batch=batch, size=size, steps=steps))
    lines = []
    for i in range(n):
        lines += [f"[texture.t{i:03d}]", f'prompt = "{prompt(i)}"', f"seed = {1000 + i}", ""]
    (root / "manifests" / "textures.toml").write_text("\n".join(lines))


def assetforge_run(root: Path) -> tuple[float, int]:
    """Seconds for one build of every asset (model loaded first), and images built."""
    from assetforge.engine import Builder
    from assetforge.project import load_project

    builder = Builder(load_project(root))
    try:
        plan = builder.plan()
        jp = next(iter(plan.jobs()))
        assert jp.generator is not None and jp.model is not None
        builder.models.get(builder.project, jp.job.model, jp.generator, jp.model.hash)
        # The database too is made once per project (Alembic creates its tables: ~50 ms, a
        # third of a batch-8 run of 32 images), never per build: like the model, before timing.
        builder.store  # noqa: B018 - opened (and created) here
        started = time.perf_counter()
        result = builder.build()
        took = time.perf_counter() - started
    finally:
        builder.close()
    built = sum(1 for a in result.assets if a.status == "built")
    return took, built


def hand_pipeline() -> object:
    import diffusers
    from assetforge_diffusers.progress import quiet
    from assetforge_diffusers.tiny import ensure_tiny_model

    folder = ensure_tiny_model("tiny-sd15")
    with quiet():
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(
            folder, local_files_only=True, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    return pipe


def hand_run(pipe: object, n: int, size: int, steps: int, batch: int,
             out: Path | None = None) -> float:
    """The same jobs as a plain diffusers loop, ``batch`` images per call; ``out``: each image
    saved there as a PNG, as a script that makes assets must."""
    import torch

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for start in range(0, n, batch):
        idx = list(range(start, min(n, start + batch)))
        gens = [torch.Generator("cpu").manual_seed(1000 + i) for i in idx]
        latents = torch.cat([torch.randn((1, 4, size // 8, size // 8), generator=g)
                             for g in gens])
        images = pipe(  # type: ignore[operator]
            prompt=[prompt(i) for i in idx], width=size, height=size,
            num_inference_steps=steps, guidance_scale=7.0, latents=latents,
            generator=gens if len(gens) > 1 else gens[0], output_type="pil").images
        if out is not None:
            for i, image in zip(idx, images, strict=True):
                image.save(out / f"t{i:03d}.png")
    return time.perf_counter() - started


def profile(pipe: object, size: int, steps: int, batch: int) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        hand_run(pipe, batch, size, steps, batch)
    print(f"-- hand loop, one call of batch {batch}: top operators by CPU time")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batches", default="1,4,8")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each side per batch size, alternating; the best counts")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    print(f"{args.assets} assets, {args.size} px, {args.steps} steps, "
          f"{torch.get_num_threads()} torch threads")
    pipe = hand_pipeline()
    hand_run(pipe, 2, args.size, args.steps, 2)  # warm-up: first-call allocations
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in batches:
            afs, hands, saving = [], [], []
            for run in range(args.repeat):  # a new project each time: every image is built
                root = Path(tmp) / f"b{batch}-{run}"
                make_project(root, args.assets, args.size, args.steps, batch)
                took, built = assetforge_run(root)
                if built != args.assets:
                    print(f"batch {batch}: only {built} of {args.assets} built",
                          file=sys.stderr)
                    return 1
                afs.append(took)
                hands.append(hand_run(pipe, args.assets, args.size, args.steps, batch))
                saving.append(hand_run(pipe, args.assets, args.size, args.steps, batch,
                                       Path(tmp) / f"hand{batch}-{run}"))
            took, hand, saved = min(afs), min(hands), min(saving)
            rows.append((batch, args.assets / took, args.assets / hand, args.assets / saved))
            print(f"batch {batch}: assetforge {took:.2f} s, hand loop {hand:.2f} s, saving PNGs "
                  f"{saved:.2f} s (best of {args.repeat}; {', '.join(f'{t:.2f}' for t in afs)}"
                  f" / {', '.join(f'{t:.2f}' for t in hands)}"
                  f" / {', '.join(f'{t:.2f}' for t in saving)})", flush=True)
    base = rows[0][1]
    print(f"{'batch':>5} {'assetforge img/s':>17} {'hand loop img/s':>16} {'vs batch 1':>11} "
          f"{'hand/assetforge':>16} {'saving/assetforge':>18}")
    for batch, af, hand, saved in rows:
        print(f"{batch:>5} {af:>17.2f} {hand:>16.2f} {af / base:>10.2f}x {hand / af:>15.3f}x "
              f"{saved / af:>17.3f}x")
    print("target: batch 4 >= 1.5x batch 1; assetforge within 1.05x of the hand loop "
          "(saving/assetforge: the loop that also writes its PNGs)")
    if args.profile:
        profile(pipe, args.size, args.steps, batches[0])
        profile(pipe, args.size, args.steps, batches[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
