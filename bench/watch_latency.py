"""Benchmark: from a manifest save to the start of generation, and to the finished file.

Runs ``assetforge.watch.Watcher`` in this process on a project of N textures (tiny SD 1.5,
64 px, 2 steps), lets it build once (the model is then loaded), and saves one asset's prompt
edit the way an editor does (temp file, rename) K times. For each save it measures:

* save → generation start: the watcher's progress callback for the job (target <= 250 ms;
  includes the file event, the debounce, reloading the manifest and re-planning all N assets);
* save → finished file: the output replaced on disk and the build recorded.

Baselines from the same process: a direct no-op ``Builder.build()`` (re-planning N assets) and
a direct one-asset build (the generation alone).

    .venv/bin/python bench/watch_latency.py [--assets 200] [--saves 7] [--debounce 0.1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from synthetic import write_project

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ASSETFORGE_PLUGINS", "diffusers")  # only what is measured

CONFIG = """\
[project]
name = "watch-bench"
seed_salt = "bench"

[models.tiny]
source = "builtin:tiny-sd15"

[kinds.texture]
width = 64
height = 64
steps = 2
"""


def make_project(root: Path, n: int) -> Path:
    return write_project(root, CONFIG, n, per_file=50)[0]


def editor_save(path: Path, text: str) -> float:
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return time.perf_counter()


def ms(xs: list[float]) -> str:
    return (f"median {statistics.median(xs) * 1000:.0f} ms (min {min(xs) * 1000:.0f}, "
            f"max {max(xs) * 1000:.0f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=200)
    ap.add_argument("--saves", type=int, default=7)
    ap.add_argument("--debounce", type=float, default=0.1)
    args = ap.parse_args()

    from assetforge.project import load_project
    from assetforge.watch import WatchCallbacks, Watcher

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        manifest = make_project(root, args.assets)
        started = threading.Event()
        finished = threading.Event()
        stamps: dict[str, float] = {}

        def progress(done: int, total: int, label: str) -> None:
            if label and "start" not in stamps:
                stamps["start"] = time.perf_counter()
                started.set()

        def on_result(result: object) -> None:
            stamps["done"] = time.perf_counter()
            finished.set()

        watcher = Watcher(load_project(root), debounce=args.debounce,
                          callbacks=WatchCallbacks(on_result=on_result, progress=progress))
        thread = threading.Thread(target=watcher.run, daemon=True)
        t = time.perf_counter()
        thread.start()
        assert finished.wait(1800), "initial build did not finish"
        print(f"setup: initial build of {args.assets} assets (model load included) "
              f"{time.perf_counter() - t:.1f} s")

        to_start, to_done = [], []
        text = manifest.read_text()
        for k in range(args.saves):
            stamps.clear()
            started.clear()
            finished.clear()
            new = text.replace('"dungeon texture 0"', f'"dungeon texture 0, take {k}"')
            saved = editor_save(manifest, new)
            assert started.wait(300) and finished.wait(300), "no rebuild after a save"
            to_start.append(stamps["start"] - saved)
            to_done.append(stamps["done"] - saved)
            time.sleep(0.3)  # let the file system settle between saves
        watcher.stop()
        thread.join(timeout=60)

        # Baselines in this process: re-planning everything, and one generation.
        builder = watcher.builder
        noop = []
        for _ in range(3):
            t = time.perf_counter()
            builder.build()
            noop.append(time.perf_counter() - t)
        gen = []
        for _ in range(3):
            t = time.perf_counter()
            builder.build(["t00000"], force=True)
            gen.append(time.perf_counter() - t)
        builder.close()

    start_med = statistics.median(to_start)
    print(f"save -> generation start ({args.saves} saves, {args.assets} assets, debounce "
          f"{args.debounce * 1000:.0f} ms): {ms(to_start)}; target <= 250 ms -> "
          + ("ok" if start_med <= 0.25 else "OVER"))
    print(f"save -> finished file: {ms(to_done)}")
    print(f"  baseline: no-op re-plan of {args.assets} assets {ms(noop)}; one generation "
          f"(plan + generate + write + record) {ms(gen)}")
    done_ratio = statistics.median(to_done) / statistics.median(gen)
    print(f"  ratios: (save->start - debounce) / re-plan "
          f"{(start_med - args.debounce) / statistics.median(noop):.1f}x; "
          f"save->finished / direct build {done_ratio:.2f}x")


if __name__ == "__main__":
    main()
