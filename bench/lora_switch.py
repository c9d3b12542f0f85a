"""Benchmark: switching between two LoRA style packs during one build, through the engine.

Builds N assets alternating style packs A, B, A, B, ... on the tiny SD 1.5 model, then the same
N assets without styles (same prompts, sizes and seeds), both with ``assetforge.engine.build``
in this one process. Per job the build record holds its duration and the lora plugin's metrics
(``lora_loads``, ``lora_activate_s``, ``lora_deactivate_s``). A *switch* is a job whose adapters
were already loaded: activating them plus switching them off afterwards is the whole cost of
changing packs, and must stay a small fraction of one generation (target <= 0.05: no pipeline or
adapter reload).

    .venv/bin/python bench/lora_switch.py [--assets 10] [--size 128] [--steps 8] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ASSETFORGE_PLUGINS", "diffusers,lora")  # only what is measured

CONFIG = """\
[project]
name = "lora-bench"
seed_salt = "bench"

[models.tiny]
source = "builtin:tiny-sd15"

[kinds.texture]
width = {size}
height = {size}
steps = {steps}
"""

STYLE = """\
description = "bench style {name}"
trigger_words = ["{name}word"]
family = "sd15"

[[lora]]
file = "{name}.safetensors"
weight = 0.8
"""


def make_project(root: Path, n: int, size: int, steps: int, styled: bool) -> None:
    from assetforge_diffusers.tiny import ensure_tiny_model
    from assetforge_lora.testing import save_peft_lora

    (root / "manifests").mkdir(parents=True)
    (root / "assetforge.toml").write_text(CONFIG.format(size=size, steps=steps))
    entries = []
    for i in range(n):
        style = "AB"[i % 2]
        # Same prompt text either way: the styled build adds trigger words through the pack.
        entries.append(f'[texture.t{i:03d}]\nprompt = "dungeon texture {i}"\nseed = {i}\n'
                       + (f'style = "{style}"\n' if styled else ""))
    (root / "manifests" / "bench.toml").write_text("\n".join(entries))
    if styled:
        model = ensure_tiny_model("tiny-sd15")
        for seed, name in enumerate("AB", start=1):
            folder = root / "styles" / name
            save_peft_lora(model, folder / f"{name}.safetensors", seed=seed)
            (folder / "style.toml").write_text(STYLE.format(name=name))


def jobs(root: Path) -> list[dict]:
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as db:
        rows = db.execute("SELECT asset_id, duration_s, metrics_json, status FROM generations "
                          "ORDER BY id").fetchall()
    return [{"id": a, "duration": d, "metrics": json.loads(m or "{}"), "status": s}
            for a, d, m, s in rows]


def run_build(root: Path) -> tuple[float, list[dict]]:
    from assetforge.engine import build
    from assetforge.project import load_project

    t = time.perf_counter()
    result = build(load_project(root))
    elapsed = time.perf_counter() - t
    if result.failed:
        sys.exit(f"build failed: {[a.errors for a in result.assets if a.errors]}")
    return elapsed, jobs(root)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=10)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        styled, plain = Path(tmp) / "styled", Path(tmp) / "plain"
        make_project(styled, args.assets, args.size, args.steps, styled=True)
        make_project(plain, args.assets, args.size, args.steps, styled=False)
        # Warm-up: first model build/load and first torch kernels are not what is measured.
        warm = Path(tmp) / "warm"
        make_project(warm, 1, args.size, args.steps, styled=False)
        run_build(warm)

        plain_total, plain_jobs = run_build(plain)
        styled_total, styled_jobs = run_build(styled)

    gen = statistics.median(j["duration"] for j in plain_jobs[1:])
    loads = sum(j["metrics"].get("lora_loads", 0) for j in styled_jobs)
    first = [j for j in styled_jobs if j["metrics"].get("lora_loads")]
    switches = [j for j in styled_jobs if j["metrics"].get("lora_loads") == 0]
    switch = statistics.median(j["metrics"]["lora_activate_s"] + j["metrics"]["lora_deactivate_s"]
                               for j in switches)
    styled_gen = statistics.median(j["duration"] for j in switches)
    print(f"{args.assets} assets, {args.size} px, {args.steps} steps, tiny SD 1.5, "
          f"engine build (assetforge.engine.build), torch threads: {args.threads or 'default'}")
    print(f"  baseline (no styles): median job {gen * 1000:.1f} ms, build {plain_total:.2f} s")
    print(f"  styled A,B,A,B...:    median job {styled_gen * 1000:.1f} ms, "
          f"build {styled_total:.2f} s")
    firsts = ", ".join(f"{j['metrics']['lora_activate_s'] * 1000:.0f} ms" for j in first)
    print(f"  LoRA file loads: {loads} for {len(styled_jobs)} jobs (first load of each: {firsts})")
    print(f"  switch cost (activate loaded adapters + switch off after): median "
          f"{switch * 1000:.2f} ms = {switch / gen:.3f} of one generation "
          f"(target <= 0.05 -> {'OK' if switch / gen <= 0.05 else 'OVER'})")
    print(f"  whole styled job vs plain job (switch + LoRA layers in every forward): "
          f"{(styled_gen - gen) / gen:+.3f}")
    if loads != 2:
        sys.exit(f"expected 2 LoRA loads (one per pack), got {loads}")


if __name__ == "__main__":
    main()
