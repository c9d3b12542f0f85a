"""Benchmark: scaling out. Two measurements, in one run:

1. A 40-asset build (tiny SD 1.5, 64 px, 2 steps, one torch thread) through the local executor
   and through the Ray executor with 1 and 2 CPU actors on a local Ray: wall-time ratios, and
   the per-job overhead Ray adds (target <= 20 ms a job): the steady-state time per job
   (first result to last, from the build's progress callbacks) minus the local executor's.
   Outputs must be byte-identical across the three builds.
2. A 1,000-asset restore from a real S3 API (moto's server on localhost) into an empty project
   (0 generations), as a ratio to a bare s3fs batched fetch of the same objects in the same run
   (target <= 1.5x).

    .venv/bin/python bench/scale.py [--assets 40] [--restore 1000]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from synthetic import write_project

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ASSETFORGE_PLUGINS", "diffusers,ray")  # only what is measured
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

CONFIG = """\
[project]
name = "scale-bench"
seed_salt = "bench"

[models.tiny]
source = "builtin:tiny-sd15"

[generation]
threads = 1

[kinds.texture]
width = 64
height = 64
steps = 2
"""


def timed_build(root: Path, **builder_args: object) -> tuple[float, float, float]:
    """Wall time; steady-state seconds per job (first result to last: model loading
    excluded); and the mean render time of those jobs where they rendered (the worker)."""
    from assetforge.engine import Builder
    from assetforge.project import load_project

    arrivals: list[float] = []
    renders: list[float] = []

    class Timed(Builder):
        def _record_rendered(self, jp, rendered, build_id):  # type: ignore[no-untyped-def]
            arrivals.append(time.perf_counter())
            renders.append(rendered.duration_s)
            return super()._record_rendered(jp, rendered, build_id)

    builder = Timed(load_project(root), **builder_args)  # type: ignore[arg-type]
    t = time.perf_counter()
    result = builder.build()
    elapsed = time.perf_counter() - t
    builder.close()
    summary = result.summary()
    assert summary["failed"] == 0 and summary["built"] == len(result.assets), summary
    steady = (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1)
    # the median: each actor's first job also loads its model (seconds)
    return elapsed, steady, statistics.median(renders)


def outputs(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "assets").rglob("*.png"))}


def bench_executors(tmp: Path, n: int) -> None:
    import ray

    import assetforge.engine as engine

    engine.environment("cpu")  # warm the per-process environment cache for every run alike
    runs: dict[str, tuple[float, float, float, dict[str, bytes]]] = {}

    def run(label: str, **args: object) -> None:
        root = tmp / label.replace(" ", "").replace(",", "-")
        write_project(root, CONFIG, n)
        elapsed, steady, render = timed_build(root, **args)
        runs[label] = (elapsed, steady, render, outputs(root))

    run("local")  # before Ray starts: its processes would compete for the 2 cores
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    print(f"local ray.init(): {time.perf_counter() - t:.2f} s (once per build without "
          "--ray-address; not in the figures below)")
    try:
        run("ray, 1 actor", executor="ray", executor_options={"actors": 1})
        run("ray, 2 actors", executor="ray", executor_options={"actors": 2})
    finally:
        ray.shutdown()
    base_wall, base_job, _, base_out = runs["local"]
    print(f"{n}-asset build (64 px, 2 steps, 1 torch thread each, this machine's 2 cores):")
    for label, (wall, steady, render, out) in runs.items():
        print(f"  {label:<14} {wall:6.2f} s wall ({wall / base_wall:.2f}x local); steady "
              f"state {steady * 1000:5.0f} ms/job rendering (median) {render * 1000:4.0f} ms; "
              f"{'byte-identical to local' if out == base_out else 'OUTPUTS DIFFER'}")
    _, steady, render, _ = runs["ray, 1 actor"]
    print(f"  per-job overhead Ray adds (1 actor: time per job at the driver minus the "
          f"actor's render time): {(steady - render) * 1000:.1f} ms (target <= 20 ms); "
          f"the local executor's own per-job cost beyond rendering (write, record): "
          f"{(base_job - runs['local'][2]) * 1000:.1f} ms")


def fake_png(i: int) -> bytes:
    """A distinct small PNG (the restore never decodes it; size like a tiny-model output)."""
    import io

    from PIL import Image

    img = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=None)
    return buf.getvalue() + f"{i}".encode()  # distinct even if two noises were equal


def bench_restore(tmp: Path, n: int) -> None:
    import boto3
    import fsspec
    from fsspec.asyn import _run_coros_in_chunks, sync
    from moto.server import ThreadedMotoServer

    from assetforge import remote_cache
    from assetforge.engine import Builder
    from assetforge.hashing import bytes_hash
    from assetforge.project import load_project

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="cache")
    url = "s3://cache/team"
    try:
        # Set-up (not timed): the objects and refs another machine's build would have pushed.
        source = tmp / "source"
        write_project(source, CONFIG.replace('seed_salt = "bench"',
                                             f'seed_salt = "bench"\ncache_dir = "{url}"'), n)
        builder = Builder(load_project(source))
        jobs = builder.plan().jobs()
        builder.close()
        store = remote_cache.remote_store(url, {})
        datas = {jp.key: fake_png(i) for i, jp in enumerate(jobs)}
        digests = {k: bytes_hash(d) for k, d in datas.items()}
        t = time.perf_counter()
        store.fs.pipe({store.object_key(digests[k]): d for k, d in datas.items()})
        store.fs.pipe({f"{store._ref_prefix(k)}/{digests[k].partition(':')[2]}": b""
                       for k in datas})
        print(f"set-up: pushed {n} objects and refs to the S3 server in "
              f"{time.perf_counter() - t:.1f} s")
        keys = [store.object_key(d) for d in digests.values()]

        def bare_fetch() -> float:
            """The floor: a fresh s3fs client fetching the same objects in one batch."""
            fs = fsspec.filesystem("s3", skip_instance_cache=True)
            t = time.perf_counter()
            got = sync(fs.loop, _run_coros_in_chunks, [fs._cat_file(k) for k in keys],
                       batch_size=remote_cache.BATCH)
            took = time.perf_counter() - t
            assert all(isinstance(g, bytes) for g in got)
            return took

        def bare_cat() -> float:
            """The same through s3fs's public batched call (it HEADs each object first)."""
            fs = fsspec.filesystem("s3", skip_instance_cache=True)
            t = time.perf_counter()
            got = fs.cat(keys)
            took = time.perf_counter() - t
            assert len(got) == len(keys)
            return took

        baseline = [bare_fetch(), bare_cat()]

        def restore(name: str) -> tuple[float, dict[str, int]]:
            clone = tmp / name  # a fresh CI runner: the manifests, nothing else
            shutil.copytree(source / "manifests", clone / "manifests")
            shutil.copy(source / "assetforge.toml", clone / "assetforge.toml")
            remote_cache._stores.clear()  # its own client, as in a new process
            b = Builder(load_project(clone))
            t = time.perf_counter()
            result = b.build()
            took = time.perf_counter() - t
            s = result.summary()
            assert s["restored"] == n and s["built"] == 0 and b.models.loads == 0, s
            b.close()
            return took, s

        restores = [restore("clone1")]
        baseline += [bare_fetch(), bare_cat()]
        restores.append(restore("clone2"))
        baseline += [bare_fetch(), bare_cat()]
        floor = min(baseline)
        best, s = min(restores, key=lambda r: r[0])
        print(f"{n}-asset restore from S3 into an empty project: {best:.2f} s (best of "
              f"{', '.join(f'{r:.2f}' for r, _ in restores)} s), {s['built']} generations, "
              f"{s['restored']} restored")
        print(f"  bare s3fs batched fetch of the same objects: {floor:.2f} s (the best of "
              f"{len(baseline)} runs before and after, of fs.cat([...]) and of concurrent "
              f"_cat_file calls: {', '.join(f'{b:.2f}' for b in baseline)} s)")
        print(f"  restore / bare fetch: {best / floor:.2f}x (target <= 1.5x)")
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=40)
    ap.add_argument("--restore", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.assets:
            bench_executors(Path(tmp), args.assets)
        if args.restore:
            bench_restore(Path(tmp), args.restore)


if __name__ == "__main__":
    main()
