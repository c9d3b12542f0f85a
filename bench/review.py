"""Benchmark: `assetforge review` of 1,000 changed assets (target <= 10 s).

The project is built twice by *seeding the records directly* (planning the real recipes,
writing a 64 px noise PNG per job, keeping it in the object store and recording one generation
row each, as a build would): once, then again after a prompt edit that changes every asset.
Then the review is timed: in-process (collect + HTML folder with difference images), and as a
whole `assetforge review` process for each format. Baseline from the same run: a whole
`assetforge status` process on the same project.

    .venv/bin/python bench/review.py [--assets 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic import write_project

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ASSETFORGE_PLUGINS", "diffusers")  # only what is measured

CONFIG = """\
[project]
name = "review-bench"
seed_salt = "bench"

[models.tiny]
source = "builtin:tiny-sd15"

[kinds.texture]
width = 64
height = 64
steps = 1
"""


def seed_build(root: Path, noise_seed: int) -> int:
    """Plan with the real planner; write, keep and record a noise PNG per job."""
    import io

    import numpy as np
    from PIL import Image

    from assetforge.engine import Builder
    from assetforge.objects import ObjectStore
    from assetforge.outputs import write_atomic
    from assetforge.project import load_project

    builder = Builder(load_project(root))
    plan = builder.plan()
    objects = ObjectStore(builder.project.cache_dir)
    rng = np.random.default_rng(noise_seed)
    build_id = builder.store.start_build("bench-seed")
    rows = []
    for jp in plan.jobs():
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(buf, format="PNG")
        data = buf.getvalue()
        objects.put(data)
        w = write_atomic(builder.project.output_dir / jp.job.output, data)
        rows.append(dict(
            build_id=build_id, asset_id=jp.job.asset_id, job_id=jp.job.job_id,
            kind=jp.job.kind, view=jp.job.view, status="ok", recipe_hash=jp.key,
            recipe_json=json.dumps(jp.recipe, sort_keys=True), prompt=jp.job.prompt,
            negative_prompt=jp.job.negative_prompt, seed=jp.job.seed, model_name=jp.job.model,
            model_hash=jp.model.hash if jp.model else "", plugin_versions_json="{}",
            output_path=jp.job.output, output_hash=w.hash, output_size=w.size,
            output_mtime_ns=w.mtime_ns))
    builder.store.insert_generations(rows)
    builder.store.finish_build(build_id, "finished", {"jobs": len(rows)})
    builder.close()
    return len(rows)


def run(root: Path, *args: str) -> tuple[float, str]:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "assetforge", "--project", str(root), *args],
                         capture_output=True, text=True, check=True)
    return time.perf_counter() - t, res.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=1000)
    n = ap.parse_args().assets
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        files = write_project(root, CONFIG, n, prompt="texture number {i}, stone")
        t = time.perf_counter()
        seed_build(root, 1)
        for f in files:  # the edit: every prompt changes
            f.write_text(f.read_text().replace(", stone", ", moss"))
        seed_build(root, 2)
        print(f"setup: seeded {n} assets twice in {time.perf_counter() - t:.1f} s")

        from assetforge.manifest import load_specs
        from assetforge.plugins import load_plugins
        from assetforge.project import load_project
        from assetforge.review import make_review, write_html

        project = load_project(root)
        t = time.perf_counter()
        ids = {s.id for s in load_specs(project, load_plugins(project))}
        review = make_review(project, ids)
        collected = time.perf_counter() - t
        write_html(review, root / "review-inproc", "bench")
        in_process = time.perf_counter() - t
        counts = review.counts()
        assert counts["changed"] == n, counts
        images = len(list((root / "review-inproc" / "img").iterdir()))
        print(f"in-process: collect {collected:.2f} s, collect + HTML folder {in_process:.2f} s "
              f"({counts['changed']} changed, {images} images)")

        baseline, _ = run(root, "status")
        print(f"baseline: `assetforge status` process {baseline:.2f} s")
        for fmt in ("html", "md", "json"):
            took, out = run(root, "review", "--format", fmt, "--out", str(root / "review"))
            if fmt == "json":
                assert json.loads(out)["summary"]["changed"] == n
            print(f"`assetforge review --format {fmt}` of {n} changed assets: {took:.2f} s "
                  f"(target <= 10 s; {took / baseline:.1f}x status)")


if __name__ == "__main__":
    main()
