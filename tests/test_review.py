"""``assetforge review``: what changed against the records before the last build or a git
revision, as a self-contained HTML folder checked in headless Chromium, markdown and JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import generation_count, run_cli
from PIL import Image, ImageDraw

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MANIFEST = """\
# Floors and walls
[texture.a]
prompt = "mossy flagstones"

[texture.b]
prompt = "red brick wall"   # the castle
tiling = "none"

[texture.c]
prompt = "oak planks"
"""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A project with three textures, built once for the module (tests work on copies)."""
    from conftest import BASE_CONFIG

    root = tmp_path_factory.mktemp("review") / "template"
    (root / "manifests").mkdir(parents=True)
    (root / "assetforge.toml").write_text(BASE_CONFIG)
    (root / "manifests" / "game.toml").write_text(MANIFEST)
    assert run_cli(root, "build").exit_code == 0
    return root


@pytest.fixture
def project(built, tmp_path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(built, root)
    return root


def edit(root: Path, old: str, new: str) -> None:
    path = root / "manifests" / "game.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def review_json(root: Path, *args: str) -> dict:
    res = run_cli(root, "review", "--format", "json", *args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_review_page_in_chromium(project):
    from playwright.sync_api import sync_playwright

    edit(project, "red brick wall", "cracked red brick wall")
    assert run_cli(project, "build").exit_code == 0
    out = project / "review-html"
    res = run_cli(project, "review", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "0 new, 1 changed, 0 removed, 2 unchanged" in res.output
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.goto((out / "index.html").as_uri())
            page.wait_for_function("[...document.images].every(i => i.complete)")
            widths = page.eval_on_selector_all(
                "img", "imgs => imgs.filter(i => i.src).map(i => [i.src, i.naturalWidth])")
            assert len(widths) >= 6  # before, after, difference, two stacks of two
            assert all(w > 0 for _src, w in widths), widths
            assert all(src.startswith("file://") for src, _w in widths)  # nothing remote

            # Exactly the asset the test changed, with the field that changed.
            cards = page.eval_on_selector_all("main > .card", "cs => cs.map(c => c.id)")
            assert cards == ["item-b"]
            fields = page.eval_on_selector_all("#item-b .field", "fs => fs.map(f => f.textContent)")
            assert fields == ["prompt"]
            assert "cracked red brick wall" in page.inner_text("#item-b")

            # The swipe slider changes what is shown.
            stack = page.locator("#item-b .stack.swipe")
            before = stack.screenshot()
            page.eval_on_selector("#item-b .swipe-range",
                                  "r => { r.value = 5; r.dispatchEvent(new Event('input')); }")
            after = stack.screenshot()
            assert before != after
            clip = page.eval_on_selector("#item-b .swipe img.top", "i => i.style.clipPath")
            assert clip == "inset(0px 95% 0px 0px)"

            # Thumbnails open full size; filters hide by status.
            page.click("#item-b figure img.thumb")
            assert page.is_visible("#lightbox img")
            page.click("#lightbox")
            page.uncheck(".f-status[value=changed]")
            assert page.is_hidden("#item-b")
            page.check(".f-status[value=changed]")
            page.eval_on_selector("#item-b .swipe-range",
                                  "r => { r.value = 50; r.dispatchEvent(new Event('input')); }")
            # The docs' screenshot comes from `make docs` (ASSETFORGE_DOCS_SCREENSHOT names
            # docs/review.png); the suite itself writes only into its temporary folder.
            shot = os.environ.get("ASSETFORGE_DOCS_SCREENSHOT") or str(project / "review.png")
            page.screenshot(path=shot, full_page=True)
            assert Path(shot).stat().st_size > 0
        finally:
            browser.close()
    assert errors == []
    assert (out / "summary.md").read_text().startswith("## Asset review")
    assert json.loads((out / "review.json").read_text())["summary"]["changed"] == 1


def test_new_changed_removed_and_hand_edits(project):
    edit(project, '[texture.a]\nprompt = "mossy flagstones"\n', "")
    edit(project, "# the castle", "# the castle\nseed = 7")
    (project / "manifests" / "more.toml").write_text('[texture.d]\nprompt = "sand"\n')
    c_png = project / "assets" / "textures" / "c.png"
    with Image.open(c_png) as im:  # a hand edit: paint over part of the output
        im = im.convert("RGB")
    ImageDraw.Draw(im).rectangle((0, 0, 20, 20), fill=(255, 0, 255))
    im.save(c_png)
    assert run_cli(project, "build").exit_code == 0
    data = review_json(project)
    items = {it["key"]: it for it in data["items"]}
    assert {k: it["status"] for k, it in items.items()} == {
        "a": "removed", "b": "changed", "c": "changed", "d": "new"}
    assert items["b"]["fields"] == ["seed"] and items["b"]["seed"] == 7
    assert any(r.startswith("hand edit: textures/c.png") for r in items["c"]["reasons"])
    assert items["c"]["fields"] == []
    assert data["summary"] == {"new": 1, "changed": 2, "removed": 1, "unchanged": 0,
                                    "warnings": 0, "failures": 0, "candidates": 0}
    assert "qa.blank" in items["d"]["checks"] and items["d"]["checks"]["qa.blank"]["passed"]

    md = run_cli(project, "review", "--format", "md", "--link", "review/index.html").stdout
    assert "**1 new, 2 changed, 1 removed**, 0 unchanged" in md
    assert "| changed | [b](review/index.html#item-b) | `textures/b.png` | recipe changed: " \
           "seed |" in md
    assert md.count("\n| ") == 1 + 4  # the header and four rows


def test_base_git_revision(project):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(project)]
    subprocess.run([*git, "init", "-q"], check=True)
    (project / ".gitignore").write_text(".assetforge/\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    edit(project, "oak planks", "pine planks")
    made = generation_count(project)
    assert run_cli(project, "build").exit_code == 0
    assert generation_count(project) == made + 1
    shutil.rmtree(project / ".assetforge" / "objects")  # the base comes from git alone
    data = review_json(project, "--base", "HEAD")
    assert data["base"] == "git HEAD"
    (item,) = data["items"]
    assert (item["key"], item["status"], item["fields"]) == ("c", "changed", ["prompt"])
    assert item["prompt"] == "pine planks"
    assert data["summary"]["unchanged"] == 2
    status = subprocess.run([*git, "status", "--porcelain"], check=True, capture_output=True,
                            text=True).stdout
    assert sorted(status.split()) == sorted(["M", "assets/textures/c.png", "M",
                                             "manifests/game.toml"])  # no checkout happened
    out = project / "html"
    assert run_cli(project, "review", "--base", "HEAD", "--out", str(out)).exit_code == 0
    assert (out / "img" / "c.old.png").read_bytes() == subprocess.run(
        [*git, "show", "HEAD:assets/textures/c.png"], check=True, capture_output=True).stdout
    res = run_cli(project, "review", "--base", "no-such-ref")
    assert res.exit_code == 2 and "--base no-such-ref: no such git revision" in res.output


def test_contact_sheet(project):
    out = project / "sheet.png"
    res = run_cli(project, "sheet", "a", "c", "--out", str(out), "--size", "64")
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        sheet = im.convert("RGB")
    assert sheet.size == (2 * (64 + 12), 64 + 16 + 12)
    for col in range(2):  # each label strip holds light text pixels on the dark background
        strip = sheet.crop((col * 76, 6 + 64, col * 76 + 76, 6 + 64 + 16))
        assert max(max(p) for p in strip.getdata()) > 200
    with Image.open(project / "assets" / "textures" / "c.png") as im:
        c = im.convert("RGB")
    assert sheet.getpixel((76 + 6 + 32, 6 + 32)) == c.getpixel((32, 32))


def test_every_output_row_of_an_asset_is_an_item(project):
    """Derived outputs (the graph branch's ``JOB/NAME`` rows of the same asset) are items of
    their own; the row is written here as the wave contract describes it."""
    import io

    from assetforge.db import Store
    from assetforge.hashing import bytes_hash
    from assetforge.objects import ObjectStore

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 255)).save(buf, format="PNG")
    data = buf.getvalue()
    path = project / "assets" / "textures" / "a_normal.png"
    path.write_bytes(data)
    ObjectStore(project / ".assetforge" / "objects").put(data)
    store = Store(project / ".assetforge" / "assetforge.db")
    try:
        build = store.start_build("build")
        store.insert_generations([dict(
            build_id=build, asset_id="a", job_id="a/normal", kind="texture", view=None,
            recipe_hash="sha256:" + "0" * 64, recipe_json='{"inputs": {"source": "x"}}',
            prompt="", negative_prompt="", seed=0, model_name="", model_hash="",
            plugin_versions_json="{}", output_path="textures/a_normal.png",
            output_hash=bytes_hash(data), status="ok")])
        store.finish_build(build, "finished", {})
    finally:
        store.close()
    data = review_json(project)
    assert [(it["key"], it["asset"], it["status"]) for it in data["items"]] == [
        ("a/normal", "a", "new")]
    out = project / "html"
    assert run_cli(project, "review", "--out", str(out)).exit_code == 0
    assert (out / "img" / "a~~normal.new.png").read_bytes() == path.read_bytes()
