"""Real consumers read what the exports plugin writes: PixiJS 8 in headless Chromium loads the
atlases, pytmx and Tiled itself load the tilesets. Nothing here parses our files with our code.

Installed by ``make setup``: Debian's ``chromium`` and ``tiled``, npm ``pixi.js`` (tests/js),
pip ``playwright`` (driving the system Chromium; it downloads no browser) and ``pytmx``.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from assetforge_exports.steps import ATLAS_STEP, TILESET_STEP
from exports_helpers import Graph, build, rgba, sprite, write
from helpers import unvalidated_specs
from PIL import Image

from assetforge.project import load_project

JS = Path(__file__).resolve().parent / "js"
PIXI = JS / "node_modules" / "pixi.js" / "dist" / "pixi.min.js"
CHROMIUM = "/usr/bin/chromium"
# Software WebGL, as on a CI machine without a GPU (DESIGN.md, facts for browser tests).
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture
def world(make_project):
    root = make_project()
    graph = Graph(root)
    graph.add("hero", "character", {"front": sprite(24, 40, 11, (3, 2, 4, 5)),
                                     "side": sprite(20, 40, 12, (1, 6, 2, 0)),
                                     "back": sprite(24, 40, 13)})
    graph.add("wall_brick", "texture", sprite(32, 32, 14))
    graph.add("wall_long", "texture", sprite(40, 10, 15, (0, 2, 0, 1)))
    graph.add("banner", "texture", sprite(9, 36, 16, (2, 0, 1, 3)))
    graph.add("floor", "tile", sprite(16, 16, 17))
    graph.add("chest", "tile", sprite(16, 16, 18, (2, 2, 2, 2)))
    graph.add("crate", "tile", sprite(32, 32, 19))
    return root, graph


def source(graph: Graph, frame: str) -> Image.Image:
    asset, _, view = frame.partition("/")
    return Image.open(graph.path(asset, view or None)).convert("RGBA")


# -- PixiJS in Chromium ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run `make setup`"
    assert PIXI.exists(), "pixi.js is missing: run `make setup` (npm ci in tests/js)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def serve(tmp_path) -> Iterator[object]:
    """Serve a folder over HTTP on localhost with the PixiJS harness page in it."""
    servers = []

    def start(folder: Path) -> str:
        shutil.copy(PIXI, folder / "pixi.min.js")
        shutil.copy(JS / "atlas.html", folder / "atlas.html")
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def load_in_pixi(browser, base_url: str, atlas_json: str) -> dict:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{base_url}/atlas.html")
        page.wait_for_function("window.harnessReady === true")
        result = page.evaluate("url => window.readAtlas(url)", atlas_json)
    finally:
        page.close()
    assert errors == []
    return result


def pixels_of(frame: dict) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(frame["rgba"]), np.uint8)
    return data.reshape(frame["readHeight"], frame["readWidth"], 4)


def assert_frames_match(result: dict, graph: Graph, names: list[str]) -> None:
    assert sorted(result["frames"]) == sorted(names)
    for name, frame in result["frames"].items():
        src = source(graph, name)
        assert (frame["width"], frame["height"]) == src.size, name
        got = pixels_of(frame).copy()
        got[got[..., 3] == 0] = 0
        assert (got == rgba(src)).all(), f"{name}: pixels differ from the source"


def test_pixijs_loads_the_atlas_and_every_frame_matches_its_source(world, browser, serve,
                                                                   tmp_path) -> None:
    root, graph = world
    spec = unvalidated_specs(root, '[atlas.sprites]\nframes = ["hero", "wall_*", "banner"]\n'
                                   'trim = true\npivots = { "hero/*" = [0.5, 1.0] }\n')["sprites"]
    _, built = build(ATLAS_STEP, spec, graph, load_project(root))
    out = tmp_path / "web"
    write(built, out)
    result = load_in_pixi(browser, serve(out / "atlases"), "sprites.json")
    assert result["renderer"] == "webgl"
    doc = json.loads(built.files["atlases/sprites.json"])
    assert any(f["trimmed"] for f in doc["frames"].values())
    assert_frames_match(result, graph, ["hero/front", "hero/side", "hero/back", "wall_brick",
                                        "wall_long", "banner"])
    assert result["animations"] == {"hero": ["hero/front", "hero/side", "hero/back"]}
    anchors = {name: f["anchor"] for name, f in result["frames"].items()}
    assert anchors["hero/side"] == [0.5, 1.0]  # the pivot, as PixiJS's default anchor
    assert anchors["wall_brick"] in (None, [0, 0])


# 80 px pages: the hero's three views share a page, turned together; 64 px: they cannot.
@pytest.mark.parametrize("max_size", [80, 64])
def test_pixijs_loads_every_page_of_a_multipage_rotated_atlas(world, browser, serve, tmp_path,
                                                              max_size) -> None:
    root, graph = world
    spec = unvalidated_specs(root, '[atlas.big]\nframes = ["hero", "wall_*", "banner"]\n'
                                   'trim = true\nallow_rotation = true\n'
                                   f'max_size = {max_size}\n')["big"]
    _, built = build(ATLAS_STEP, spec, graph, load_project(root))
    pages = sorted(k for k in built.files if k.endswith(".json"))
    assert len(pages) >= 2
    docs = [json.loads(built.files[k]) for k in pages]
    assert any(f["rotated"] for d in docs for f in d["frames"].values()), "nothing rotated"
    out = tmp_path / "web"
    write(built, out)
    result = load_in_pixi(browser, serve(out / "atlases"), "big.json")
    assert {f["page"] for f in result["frames"].values()} == {d["meta"]["image"] for d in docs}
    assert_frames_match(result, graph, ["hero/front", "hero/side", "hero/back", "wall_brick",
                                        "wall_long", "banner"])
    if max_size == 80:
        assert result["animations"] == {"hero": ["hero/front", "hero/side", "hero/back"]}


# -- Tiled and pytmx ---------------------------------------------------------------------------

TILESET = """
[tileset.dungeon]
kinds = ["tile"]
tile_width = 16
tile_height = 16
columns = 2
spacing = 1
margin = 2
"""


def _tmx(tsx_name: str, tilecount: int) -> str:
    """A one-row map showing tile ids 0 … tilecount-1 in order (gid = id + 1)."""
    gids = ",".join(str(i + 1) for i in range(tilecount))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<map version="1.8" orientation="orthogonal" renderorder="right-down" width="{tilecount}"
     height="1" tilewidth="16" tileheight="16" infinite="0" nextlayerid="2" nextobjectid="1">
 <tileset firstgid="1" source="{tsx_name}"/>
 <layer id="1" name="ground" width="{tilecount}" height="1">
  <data encoding="csv">{gids}</data>
 </layer>
</map>
"""


def _pil_loader(filename: str, colorkey, **kwargs):
    """pytmx image loader: crops tiles out of the tileset image with Pillow."""
    image = Image.open(filename).convert("RGBA")

    def load(rect=None, flags=None):
        x, y, w, h = rect
        return image.crop((x, y, x + w, y + h))

    return load


def read_map(path: Path) -> list[tuple[str | None, Image.Image | None]]:
    """(asset property, tile image) of each cell of the map's one row, through pytmx."""
    import pytmx

    tmx = pytmx.TiledMap(str(path), image_loader=_pil_loader)
    cells = []
    for x in range(tmx.width):
        props = tmx.get_tile_properties(x, 0, 0) or {}
        cells.append((props.get("asset"), tmx.get_tile_image(x, 0, 0)))
    return cells


def test_pytmx_loads_the_tileset_through_a_map_and_tiles_match_their_sources(world,
                                                                             tmp_path) -> None:
    root, graph = world
    spec = unvalidated_specs(root, TILESET)["dungeon"]
    project = load_project(root)
    _, first = build(TILESET_STEP, spec, graph, project)
    write(first, tmp_path)
    folder = tmp_path / "tilesets"
    (folder / "level.tmx").write_text(_tmx("dungeon.tsx", 4))
    cells = read_map(folder / "level.tmx")
    assert [asset for asset, _ in cells] == ["chest", "crate", "floor", None]
    for asset, image in cells[:3]:
        expected = source(graph, asset).resize((16, 16), Image.Resampling.NEAREST)
        assert (rgba(image) == rgba(expected)).all(), asset
    assert not np.asarray(cells[3][1]).any()  # the unused cell is transparent

    # A tile added later goes to a new id: the map drawn against the first build shows the
    # same tiles in the same cells.
    graph.add("altar", "tile", sprite(16, 16, 20))
    _, second = build(TILESET_STEP, spec, graph, project, first.state)
    write(second, tmp_path)
    again = read_map(folder / "level.tmx")
    assert [a for a, _ in again] == ["chest", "crate", "floor", "altar"]
    for (asset, image), (_, before) in zip(again[:3], cells[:3], strict=True):
        assert image.tobytes() == before.tobytes(), asset


def test_tiled_reads_the_tsx_with_the_declared_geometry(world, tmp_path) -> None:
    root, graph = world
    assert shutil.which("tiled"), "Debian's tiled is missing: run `make setup`"
    spec = unvalidated_specs(root, TILESET)["dungeon"]
    _, built = build(TILESET_STEP, spec, graph, load_project(root))
    write(built, tmp_path)
    tsx = tmp_path / "tilesets" / "dungeon.tsx"
    tsj = tmp_path / "dungeon.tsj"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run(["tiled", "--export-tileset", "json", str(tsx), str(tsj)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    exported = json.loads(tsj.read_text())
    # Tiled recomputes columns and tilecount from the image; they must be what we declared.
    assert {k: exported[k] for k in ("columns", "tilecount", "tilewidth", "tileheight",
                                     "spacing", "margin", "imagewidth", "imageheight")} == {
        "columns": 2, "tilecount": 4, "tilewidth": 16, "tileheight": 16, "spacing": 1,
        "margin": 2, "imagewidth": 37, "imageheight": 37}
    props = {t["id"]: {p["name"]: p["value"] for p in t["properties"]}
             for t in exported["tiles"]}
    assert {i: p["asset"] for i, p in props.items()} == {0: "chest", 1: "crate", 2: "floor"}
    assert all(p["source_hash"].startswith("sha256:") for p in props.values())
