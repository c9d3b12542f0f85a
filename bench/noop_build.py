"""Benchmark: a no-op `assetforge build` of a 10,000-asset project, as a whole process.

Target: <= 0.5 s, and torch must not be imported. The project is built once by *seeding the
records directly* (planning the real recipes, writing a small PNG per job and one generation row
each): generating 10,000 images with the tiny model would take over 15 minutes on 2 cores.

    .venv/bin/python bench/noop_build.py [--assets 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
[project]
name = "bench"
seed_salt = "bench"

[models.tiny]
source = "builtin:tiny-sd15"

[kinds.texture]
width = 64
height = 64
steps = 1
"""


def make_project(root: Path, n: int, per_file: int = 100) -> None:
    (root / "manifests").mkdir(parents=True)
    (root / "assetforge.toml").write_text(CONFIG)
    for f in range(0, n, per_file):
        lines = []
        for i in range(f, min(n, f + per_file)):
            lines.append(f'[texture.t{i:05d}]\nprompt = "texture number {i}, stone"\n')
        (root / "manifests" / f"m{f // per_file:03d}.toml").write_text("\n".join(lines))


def seed_records(root: Path) -> int:
    """Plan with the real planner, then write outputs and records as a build would."""
    import io

    from PIL import Image

    from assetforge.db import Generation, Store
    from assetforge.engine import Builder
    from assetforge.outputs import write_atomic

    builder = Builder(__import__("assetforge.project", fromlist=["x"]).load_project(root))
    plan = builder.plan()
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 90, 90)).save(buf, format="PNG")
    png = buf.getvalue()
    store = Store(builder.project.database)
    build_id = store.start_build("bench-seed")
    rows = []
    for jp in plan.jobs():
        w = write_atomic(builder.project.output_dir / jp.job.output, png)
        rows.append(Generation(
            build_id=build_id, asset_id=jp.job.asset_id, job_id=jp.job.job_id, kind=jp.job.kind,
            view=jp.job.view, status="ok", recipe_hash=jp.key,
            recipe_json=json.dumps(jp.recipe, sort_keys=True), prompt=jp.job.prompt,
            negative_prompt=jp.job.negative_prompt, seed=jp.job.seed, model_name=jp.job.model,
            model_hash=jp.model.hash, plugin_versions_json="{}", output_path=jp.job.output,
            output_hash=w.hash, output_size=w.size, output_mtime_ns=w.mtime_ns))
    with store.session() as s, s.begin():
        s.add_all(rows)
    store.finish_build(build_id, "finished", {"jobs": len(rows)})
    store.close()
    return len(rows)


def run_noop(root: Path) -> tuple[float, dict, list[str]]:
    probe = ("import sys, runpy\nsys.argv=['assetforge','build','--json']\n"
             "try:\n runpy.run_module('assetforge', run_name='__main__')\n"
             "except SystemExit: pass\n"
             "sys.stderr.write('HEAVY=' + ','.join(m for m in ('torch','diffusers',"
             "'transformers') if m in sys.modules) + '\\n')\n")
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    heavy = [ln for ln in res.stderr.splitlines() if ln.startswith("HEAVY=")][-1][6:]
    return elapsed, json.loads(res.stdout)["summary"], [m for m in heavy.split(",") if m]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        make_project(root, args.assets)
        t = time.perf_counter()
        n = seed_records(root)
        print(f"seeded {n} records and outputs directly in {time.perf_counter() - t:.1f} s")
        empty = Path(tmp) / "empty"
        make_project(empty, 1)
        base = [subprocess.run([sys.executable, "-c", "pass"]).returncode for _ in range(1)]
        assert base == [0]
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"])
        python_start = time.perf_counter() - t0
        first, summary, heavy = run_noop(root)  # also warms the parse cache
        times = []
        for _ in range(args.runs):
            elapsed, summary, heavy_run = run_noop(root)
            times.append(elapsed)
            heavy += heavy_run
        med = statistics.median(times)
        print(f"no-op build of {args.assets} assets: first {first:.3f} s (parse cache cold), "
              f"median {med:.3f} s over {args.runs} runs (min {min(times):.3f}, "
              f"max {max(times):.3f}); target <= 0.5 s -> {'OK' if med <= 0.5 else 'OVER'}")
        print(f"  baseline: bare python start {python_start:.3f} s; "
              f"ratio no-op/python-start {med / python_start:.1f}x")
        print(f"  summary: {summary}")
        print(f"  torch imported: {'yes: ' + ','.join(sorted(set(heavy))) if heavy else 'no'}")
        if os.environ.get("BENCH_STRICT") and (heavy or summary["up_to_date"] != args.assets):
            sys.exit(1)


if __name__ == "__main__":
    main()
