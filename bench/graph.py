"""Benchmark: planning the asset graph — a no-op `assetforge build` of a 10,000-asset project
where half the assets take an image input, as a whole process, against the same-size project
without inputs in the same run (the baseline).

Target: the graph no-op build <= 0.5 s. Every odd asset is file-sourced from its even
neighbour (``image = "@t00000"``), so planning resolves 5,000 inputs and takes each input's
hash from the upstream's record (its output's size and mtime match): no file is hashed.
Then the cost of each derived step per 1024×1024 image (bench/derived_steps.py; target: the
normal map <= 50 ms).
Records are seeded directly, round by round as a build would (upstreams, then dependents),
like bench/noop_build.py: generating 10,000 images would take far too long here.

    .venv/bin/python bench/graph.py [--assets 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from noop_build import CONFIG, bench_env, python_start, run_noop
from synthetic import write_project


def make_project(root: Path, n: int, with_inputs: bool) -> None:
    def body(i: int) -> str | None:
        return f'image = "@t{i - 1:05d}"' if with_inputs and i % 2 else None

    write_project(root, CONFIG, n, prompt="texture number {i}, stone", body=body)


def seed_records(root: Path) -> int:
    """Plan with the real planner; write outputs and records for every job that has a recipe;
    plan again for the dependents (whose recipes hold their inputs' hashes); until done."""
    from PIL import Image

    from assetforge.db import Generation, Store
    from assetforge.engine import Builder
    from assetforge.outputs import write_atomic
    from assetforge.project import load_project

    builder = Builder(load_project(root))
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 90, 90)).save(buf, format="PNG")
    png = buf.getvalue()
    store = Store(builder.project.database)
    total = 0
    while True:
        plan = builder.plan()
        todo = [jp for jp in plan.jobs() if jp.key and jp.status != "up-to-date"]
        if not todo:
            break
        build_id = store.start_build("bench-seed")
        rows = []
        for jp in todo:
            w = write_atomic(builder.project.output_dir / jp.job.output, png)
            rows.append(Generation(
                build_id=build_id, asset_id=jp.job.asset_id, job_id=jp.job.job_id,
                kind=jp.job.kind, view=jp.job.view, status="ok", recipe_hash=jp.key,
                recipe_json=json.dumps(jp.recipe, sort_keys=True), prompt=jp.job.prompt,
                negative_prompt=jp.job.negative_prompt, seed=jp.job.seed,
                model_name=jp.job.model, model_hash=jp.model.hash if jp.model else "",
                plugin_versions_json="{}", output_path=jp.job.output, output_hash=w.hash,
                output_size=w.size, output_mtime_ns=w.mtime_ns))
        with store.session() as s, s.begin():
            s.add_all(rows)
        store.finish_build(build_id, "finished", {"jobs": len(rows)})
        total += len(rows)
    store.close()
    builder.close()
    return total


def timed(roots: dict[str, Path], env: dict[str, str], runs: int
          ) -> dict[str, tuple[float, float, dict, list[str]]]:
    """Per project: (first run, median, summary, heavy modules). Runs are interleaved, so
    load on a shared machine hits both projects alike."""
    first = {name: run_noop(root, env) for name, root in roots.items()}  # fills the caches
    times: dict[str, list[float]] = {name: [] for name in roots}
    summaries = {name: f[1] for name, f in first.items()}
    heavy = {name: list(f[2]) for name, f in first.items()}
    for _ in range(runs):
        for name, root in roots.items():
            elapsed, summaries[name], more = run_noop(root, env)
            times[name].append(elapsed)
            heavy[name] += more
    return {name: (first[name][0], statistics.median(times[name]), summaries[name],
                   heavy[name]) for name in roots}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for name, with_inputs in (("baseline", False), ("graph", True)):
            root = roots[name] = Path(tmp) / name
            make_project(root, args.assets, with_inputs)
            t = time.perf_counter()
            n = seed_records(root)
            print(f"{name}: seeded {n} records in {time.perf_counter() - t:.1f} s")
        env = bench_env(Path(tmp) / "pycache")
        results = timed(roots, env, args.runs)
        start = python_start(env, 3)
        base = results["baseline"][1]
        for name, (first, med, summary, heavy) in results.items():
            verdict = "OK" if med <= 0.5 else "OVER"
            print(f"{name}: no-op build of {args.assets} assets"
                  f"{' (half with an image input)' if name == 'graph' else ' (no inputs)'}: "
                  f"first {first:.3f} s, median {med:.3f} s over {args.runs} runs; "
                  f"target <= 0.5 s -> {verdict}; ratio to baseline {med / base:.2f}x")
            print(f"  summary: {summary}; torch imported: "
                  f"{'yes: ' + ','.join(sorted(set(heavy))) if heavy else 'no'}")
        print(f"python start (same environment): {start:.3f} s")

        # -- derived steps per 1024² image -------------------------------------------------
        # -- each derived step's cost per 1024² image (target: normal map <= 50 ms) --------
        from derived_steps import report

        report(1024, args.runs)
        if results["graph"][2].get("up_to_date") != args.assets:
            sys.exit(1)


if __name__ == "__main__":
    main()
