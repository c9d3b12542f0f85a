"""Benchmark: from a manifest save to the new image's pixels in the live page.

Runs ``assetforge serve`` (a real process, 100 ms debounce) on a one-texture project (tiny SD
1.5, 64 px, 2 steps), opens the page in headless Chromium and saves a prompt edit K times. For
each save it takes, on one clock (the page's ``performance.timeOrigin`` is wall time):

* save → the page hears the rebuild start (file event + debounce + SSE);
* rebuild start → the page hears it finished (plan, generate, write, record, SSE);
  of which the generation itself (the record's ``duration_s``);
* finished → the new image loaded in the page (fetch + decode), its pixels checked equal to
  the output file's.

Target: save → pixels <= debounce + generation + 150 ms.

    .venv/bin/python bench/serve.py [--saves 5] [--debounce 0.1]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from serve_kit import (  # noqa: E402 - after the path set-up
    CHROMIUM,
    CHROMIUM_ARGS,
    ServeProcess,
    make_live_project,
    new_image,
    page_pixels,
)

MANIFEST = '[texture.moss]\nprompt = "green moss"\n'
SEL = new_image("moss", "textures/moss.png")
MARKS_JS = """(sel) => {
  window.__marks = [];
  const es = new EventSource('/events');
  es.addEventListener('state', e => {
    const s = JSON.parse(e.data);
    window.__marks.push({t: performance.timeOrigin + performance.now(),
                         building: s.building, builds: s.builds});
  });
  document.querySelector(sel).addEventListener('load', ev => {
    window.__loaded = {t: performance.timeOrigin + performance.now(),
                       hash: ev.target.dataset.hash};
  });
}"""


def ms(xs: list[float]) -> str:
    return f"median {statistics.median(xs) * 1000:.0f} ms (min {min(xs) * 1000:.0f}, " \
           f"max {max(xs) * 1000:.0f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--saves", type=int, default=5)
    ap.add_argument("--debounce", type=float, default=0.1)
    args = ap.parse_args()
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = make_live_project(Path(tmp) / "live", MANIFEST)
        manifest = root / "manifests" / "tex.toml"
        out = root / "assets" / "textures" / "moss.png"
        server = ServeProcess(root, "--debounce", str(args.debounce))
        parts: dict[str, list[float]] = {k: [] for k in
                                         ("heard", "build", "gen", "shown", "total")}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(server.url)
                page.wait_for_function(
                    f"() => {{ const i = document.querySelector('{SEL}');"
                    " return i && i.complete && i.naturalWidth > 0; }", timeout=600_000)
                page.evaluate(MARKS_JS, SEL)
                for k in range(args.saves):
                    builds = int(page.evaluate("() => document.body.dataset.builds"))
                    page.evaluate("() => { window.__marks = []; window.__loaded = null; }")
                    tmp_file = manifest.with_name(".tex.toml.swp")
                    tmp_file.write_text(MANIFEST.replace("green moss", f"green moss {k}"))
                    saved = time.time()
                    os.replace(tmp_file, manifest)
                    page.wait_for_function(
                        f"() => window.__loaded && Number(document.body.dataset.builds) > "
                        f"{builds}", timeout=300_000)
                    marks = page.evaluate("() => window.__marks")
                    loaded = page.evaluate("() => window.__loaded")
                    start = next(m["t"] for m in marks if m["building"]) / 1000
                    done = next(m["t"] for m in marks if m["builds"] > builds) / 1000
                    shown = loaded["t"] / 1000
                    with Image.open(out) as im:
                        assert page_pixels(page, "moss", "textures/moss.png") == (
                            im.width, im.height, im.convert("RGBA").tobytes())
                    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
                        gen = c.execute("SELECT duration_s FROM generations WHERE job_id ="
                                        " 'moss' AND status = 'ok' ORDER BY id DESC LIMIT 1"
                                        ).fetchone()[0]
                    parts["heard"].append(start - saved)
                    parts["build"].append(done - start)
                    parts["gen"].append(gen)
                    parts["shown"].append(shown - done)
                    parts["total"].append(shown - saved)
                browser.close()
        finally:
            server.interrupt()
            server.close()
    d = args.debounce
    total, gen = statistics.median(parts["total"]), statistics.median(parts["gen"])
    print(f"save -> new image's pixels in the page ({args.saves} saves, debounce "
          f"{d * 1000:.0f} ms): {ms(parts['total'])}")
    print(f"  save -> rebuild start heard by the page (event + debounce + SSE): "
          f"{ms(parts['heard'])}")
    print(f"  rebuild start -> finished heard by the page: {ms(parts['build'])}")
    print(f"    of which generation (record's duration_s): {ms(parts['gen'])}")
    print(f"  finished -> image loaded in the page (fetch + decode): {ms(parts['shown'])}")
    budget = d + gen + 0.150
    print(f"  target <= debounce + generation + 150 ms = {budget * 1000:.0f} ms -> "
          + ("ok" if total <= budget else "OVER") + f" (overhead beyond debounce + generation:"
          f" {(total - d - gen) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
