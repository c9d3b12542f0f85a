"""``assetforge serve`` in headless Chromium (Playwright, Debian's chromium): real file edits,
real tiny-model generation, the page updating itself over Server-Sent Events.

Every wait is on a condition in the page or on disk, with a generous timeout; nothing sleeps.
Set ASSETFORGE_SCREENSHOT=FILE to keep a screenshot of the live page (``make docs``).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image
from serve_kit import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ServeProcess,
    make_live_project,
    new_image,
    page_pixels,
    shown_loaded,
)

from assetforge.hashing import bytes_hash

TIMEOUT_MS = 300_000


def _rgba(path: Path) -> tuple[int, int, bytes]:
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
        return rgba.width, rgba.height, rgba.tobytes()


def _shown_change(page, asset: str, path: str, old: str) -> str:
    """Wait until the page shows a different, fully loaded image for ``path``; its hash."""
    page.wait_for_function(
        """([sel, h]) => { const i = document.querySelector(sel);
             return i && i.dataset.hash && i.dataset.hash !== h && i.complete
                    && i.naturalWidth > 0; }""",
        arg=[new_image(asset, path), old], timeout=TIMEOUT_MS)
    return page.locator(new_image(asset, path)).get_attribute("data-hash")


def _generations(root: Path, job: str) -> int:
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        return c.execute("SELECT COUNT(*) FROM generations WHERE job_id = ? AND status = 'ok'",
                         (job,)).fetchone()[0]


def test_live_page_follows_saves_errors_and_picks(tmp_path):
    from playwright.sync_api import sync_playwright

    root = make_live_project(tmp_path / "live")
    manifest = root / "manifests" / "tex.toml"
    moss = root / "assets" / "textures" / "moss.png"
    sand = root / "assets" / "textures" / "sand.png"
    server = ServeProcess(root)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            page.goto(server.url)
            page.wait_for_function("() => Number(document.body.dataset.builds) >= 1",
                                   timeout=TIMEOUT_MS)
            first = bytes_hash(moss.read_bytes())
            shown_loaded(page, "moss", "textures/moss.png", first)
            assert page.locator("#kind-texture .card").count() == 2
            page.evaluate("() => { window.__sameDocument = 'yes'; }")

            # 1. a save → the new image, in place, pixel for pixel; the old one beside it
            manifest.write_text(manifest.read_text().replace("green moss", "red moss"))
            second = _shown_change(page, "moss", "textures/moss.png", first)
            assert second == bytes_hash(moss.read_bytes())
            assert page_pixels(page, "moss", "textures/moss.png") == _rgba(moss)
            assert page.evaluate("() => window.__sameDocument") == "yes"  # no reload
            prev = page.locator('#asset-moss [data-path="textures/moss.png"] .prev img')
            assert prev.get_attribute("data-hash") == first
            assert "recipe changed: prompt" in page.locator("#asset-moss .why").inner_text()
            page.fill("#filter", "mo")  # the filter by id
            assert page.locator("#asset-sand").is_hidden()
            assert page.locator("#asset-moss").is_visible()
            page.fill("#filter", "")
            assert page.locator("#asset-sand").is_visible()

            # 2. a broken save → the error panel with file and line; fixed → it goes
            good = manifest.read_text()
            manifest.write_text(good.replace('prompt = "red moss"',
                                              'prompt = "red moss"\nsteps = "many"'))
            errors = page.locator("#errors")
            errors.wait_for(state="visible", timeout=TIMEOUT_MS)
            text = errors.inner_text()
            assert re.search(r"tex\.toml:4: texture\.moss\.steps: expected an integer", text), \
                text
            assert page.evaluate("() => window.__sameDocument") == "yes"
            manifest.write_text(good)
            errors.wait_for(state="hidden", timeout=TIMEOUT_MS)
            shown_loaded(page, "moss", "textures/moss.png", second)

            # 3. a click on a seed candidate → pick: manifest rewritten (comments kept),
            # the picked image restored from the cache (no generation) and shown
            cands = page.locator("#asset-sand .cands button")
            cands.nth(1).wait_for(timeout=TIMEOUT_MS)
            state = json.loads(urllib.request.urlopen(server.url + "state").read())
            sand_state = next(a for a in state["assets"] if a["id"] == "sand")
            second_cand = next(c for c in sand_state["candidates"] if c["index"] == 2)
            made = _generations(root, "sand")
            if os.environ.get("ASSETFORGE_SCREENSHOT"):
                page.screenshot(path=os.environ["ASSETFORGE_SCREENSHOT"], full_page=True)
            cands.nth(1).click()
            shown_loaded(page, "sand", "textures/sand.png", second_cand["hash"])
            text = manifest.read_text()
            assert f"seed = {second_cand['seed']}" in text
            assert "# the live page's test manifest" in text and "# kept by pick" in text
            assert bytes_hash(sand.read_bytes()) == second_cand["hash"]
            assert page.locator("#asset-sand").get_attribute("data-status") == "restored"
            assert _generations(root, "sand") == made  # restored, not generated
            assert page_pixels(page, "sand", "textures/sand.png") == _rgba(sand)
            picked = page.locator("#asset-sand .cands button.picked")
            assert picked.get_attribute("data-index") == "2"

            # 4. a changing request without the token is refused (from the page itself)
            status = page.evaluate("""async () => (await fetch('/api/pick', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({asset: 'sand', index: 1})})).status""")
            assert status == 403
            assert f"seed = {second_cand['seed']}" in manifest.read_text()
            assert page.locator(new_image("sand", "textures/sand.png")).count() == 1
            browser.close()
        # and from outside the page: no token, no Origin
        req = urllib.request.Request(server.url + "api/pick", method="POST",
                                     data=b'{"asset": "sand", "index": 1}',
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req)
            raise AssertionError("a request without the token was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 403

        # Ctrl-C: exit 130, nothing half-written
        assert server.interrupt() == 130
        leftovers = [p for p in root.rglob("*") if ".tmp" in p.name
                     or p.name.startswith(".tex.toml.")]
        assert leftovers == []
    finally:
        server.close()
