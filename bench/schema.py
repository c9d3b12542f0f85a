"""Benchmark: generating both JSON Schemas (manifests, assetforge.toml) for the demo project.

Plugins are loaded once (as ``build`` has them loaded when it refreshes the schemas); then the
two schemas are generated and serialised N times. Target: <= 0.5 s for both. Baseline in the
same process: loading the project and its plugins. Also the whole ``assetforge schema
--editor`` command, cold, as a user runs it.

    .venv/bin/python bench/schema.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    from assetforge.plugins import load_plugins
    from assetforge.project import load_project
    from assetforge.schema import config_schema, dumps, manifest_schema

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        shutil.copytree(REPO / "projects" / "demo", root,
                        ignore=shutil.ignore_patterns("assets", ".assetforge"))
        t = time.perf_counter()
        project = load_project(root)
        plugins = load_plugins(project)
        load_s = time.perf_counter() - t
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            m = dumps(manifest_schema(project, plugins))
            c = dumps(config_schema(project, plugins))
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("assetforge")), "--project",
                        str(root), "schema", "--editor"], check=True, capture_output=True)
        cli_s = time.perf_counter() - t
    med = statistics.median(times)
    print(f"both schemas for the demo ({len(m) + len(c):,} bytes of JSON): median "
          f"{med * 1000:.1f} ms (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}) "
          f"over {args.repeat}; target <= 500 ms -> " + ("ok" if med <= 0.5 else "OVER"))
    print(f"  baseline: loading the project and its plugins {load_s * 1000:.0f} ms "
          f"(ratio schemas / load {med / load_s:.2f}x)")
    print(f"  'assetforge schema --editor' as a command, cold (Python start, imports, plugins, "
          f"both files): {cli_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
