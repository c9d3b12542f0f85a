"""``assetforge serve`` over plain HTTP: what it serves and what it refuses (a real server on
127.0.0.1, real requests; the build thread runs the real watch loop)."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time

import pytest
from click.testing import CliRunner
from serve_kit import make_live_project

from assetforge.serve.http import safe_file

PLAIN = """\
[texture.moss]
prompt = "green moss"
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A served project after its first build; (session, root)."""
    root = make_live_project(tmp_path_factory.mktemp("serve") / "proj", PLAIN)
    (root.parent / "secret.txt").write_text("outside the project")
    yield from served(root)


def served(root):
    """Serve ``root``; yields (session, root) once the first build is shown."""
    from assetforge.project import load_project
    from assetforge.serve import start

    session = start(load_project(root))
    built = threading.Event()
    orig = session.state.built

    def built_hook(*args, **kwargs):
        orig(*args, **kwargs)
        built.set()

    session.state.built = built_hook  # type: ignore[method-assign]
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    assert built.wait(300), "the first build never finished"
    yield session, root
    session.stop()
    thread.join(60)


def _request(session, method: str, path: str, headers: dict[str, str] | None = None,
             body: bytes | None = None) -> tuple[int, bytes]:
    host, port = session.server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in {"Host": f"{host}:{port}", **(headers or {})}.items():
            if v is not None:
                conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def test_page_embeds_a_token_and_serves_outputs(live):
    session, root = live
    status, page = _request(session, "GET", "/")
    assert status == 200 and session.token.encode() in page
    status, data = _request(session, "GET", "/out/textures/moss.png")
    assert status == 200
    assert data == (root / "assets" / "textures" / "moss.png").read_bytes()
    state = json.loads(_request(session, "GET", "/state")[1])
    (moss,) = state["assets"]
    assert moss["kind"] == "texture" and moss["status"] in ("built", "up-to-date")
    assert moss["outputs"][0]["path"] == "textures/moss.png"


@pytest.mark.parametrize("path", [
    "/out/../assetforge.toml",
    "/out/..%2Fassetforge.toml",
    "/out/textures%2F..%2F..%2Fassetforge.toml",
    "/out/%2e%2e/assetforge.toml",
    "/out/textures/..%5C..%5Cassetforge.toml",
    "/out/%252e%252e%252fassetforge.toml",
    "/out//etc/passwd",
    "/out/%2Fetc%2Fpasswd",
    "/out/textures/moss.png%00.txt",
    "/out/link-out/secret.txt",
    "/out/textures/link-file.png",
    "/blob/../../assetforge.toml",
    "/blob/sha256:" + "0" * 64,
    "/assetforge.toml",
    "/.assetforge/assetforge.db",
])
def test_no_path_escapes(live, path):
    session, root = live
    out = root / "assets"
    if not (out / "link-out").is_symlink():
        os.symlink(root.parent, out / "link-out")  # a folder link out of the output dir
        os.symlink(root / "assetforge.toml", out / "textures" / "link-file.png")
    status, body = _request(session, "GET", path)
    assert status == 404, (path, body[:200])
    assert b"outside the project" not in body and b"[project]" not in body


def test_safe_file_refuses_what_resolves_outside(tmp_path):
    base = tmp_path / "out"
    (base / "a").mkdir(parents=True)
    (base / "a" / "x.png").write_bytes(b"x")
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", base / "a" / "s.png")
    os.symlink(base / "a" / "x.png", base / "a" / "inside.png")
    assert safe_file(base, "a/x.png") == (base / "a" / "x.png").resolve()
    assert safe_file(base, "a/inside.png") == (base / "a" / "x.png").resolve()
    for rel in ("a/s.png", "../secret", "a/../../secret", "/etc/passwd", "a\\x.png", "",
                "a//x.png", "./a/x.png", "a", "a/x.png\x00"):
        assert safe_file(base, rel) is None, rel


def test_changing_requests_need_token_origin_and_json(live):
    session, root = live
    host, port = session.server.server_address[:2]
    origin = f"http://{host}:{port}"
    body = b'{"asset": "moss", "index": 1}'
    good = {"Origin": origin, "Content-Type": "application/json",
            "X-AssetForge-Token": session.token}
    before = (root / "manifests" / "tex.toml").read_bytes()
    refused = [
        {**good, "X-AssetForge-Token": None},
        {**good, "X-AssetForge-Token": "x" * len(session.token)},
        {**good, "Origin": "http://evil.example"},
        {**good, "Origin": None},
        {**good, "Content-Type": "text/plain"},
        {**good, "Content-Type": "application/x-www-form-urlencoded"},
    ]
    for headers in refused:
        status, _ = _request(session, "POST", "/api/pick", headers, body)
        assert status == 403, headers
    status, _ = _request(session, "POST", "/api/pick",
                         {**good, "Host": "evil.example:80", "Origin": "http://evil.example:80"},
                         body)
    assert status == 403  # DNS rebinding: another Host name
    status, _ = _request(session, "GET", "/state", {"Host": "evil.example"})
    assert status == 421
    # with everything right the request reaches pick, which says why it cannot pick
    status, reply = _request(session, "POST", "/api/pick", good, body)
    assert status == 409 and b"no candidates" in reply
    assert (root / "manifests" / "tex.toml").read_bytes() == before


def _until(state, condition, timeout: float = 300) -> None:
    """Wait for the live state to satisfy ``condition`` (woken by each change)."""
    deadline = time.monotonic() + timeout
    version = state.version
    while not condition():
        assert time.monotonic() < deadline, "the live state never got there"
        version = state.wait_change(version, 5)


def test_a_broken_save_is_reported_and_the_server_lives(live):
    session, root = live
    state = session.state
    manifest = root / "manifests" / "tex.toml"
    good = manifest.read_text()
    manifest.write_text(good + "\n[texture.bad]\nprompt = 5\n")
    _until(state, lambda: state.errors)
    assert any("tex.toml:5: texture.bad.prompt: expected a string" in e for e in state.errors)
    assert _request(session, "GET", "/state")[0] == 200  # still serving
    manifest.write_text(good)
    _until(state, lambda: not state.errors)
    assert _request(session, "GET", "/out/textures/moss.png")[0] == 200


def test_serve_binds_loopback_and_warns_for_another_host(tmp_path):
    from assetforge.cli import cli

    root = make_live_project(tmp_path / "p", PLAIN)
    res = CliRunner().invoke(cli, ["--project", str(root), "serve", "--help"])
    assert "127.0.0.1" in res.output
    res = CliRunner().invoke(cli, ["--project", str(root), "serve", "--host", "203.0.113.9",
                                   "--port", "0"])
    assert "warning: serving on 203.0.113.9" in res.stderr
    assert res.exit_code == 2 and "cannot listen" in res.stderr  # not an address of ours
    assert not (root / "assets").exists()



def test_cards_pick_a_kind_specific_preview_among_the_outputs():
    """The hook other kinds use: an animation or a ``…preview….png`` becomes the card's
    preview image; plain outputs have none (a kind may register its own in PREVIEWS)."""
    from assetforge.serve import default_preview

    assert default_preview("texture", ["textures/a.png", "textures/a_normal.png"]) is None
    assert default_preview("animation", ["anim/walk.png", "anim/walk.gif"]) == "anim/walk.gif"
    assert default_preview("terrain", ["t/dirt.png", "t/dirt_preview.png"]) == \
        "t/dirt_preview.png"
    # what the terrain plugin writes: its sample map, not the sheet of tiles
    assert default_preview("terrain", ["terrains/floor.png", "terrains/floor.tsx",
                                       "terrains/floor.sample.png"]) == "terrains/floor.sample.png"


def test_an_unexpected_build_exception_is_shown_and_the_server_lives(tmp_path):
    """Not a manifest mistake but a bug (here: the first build raises): the page shows it,
    the watch loop starts afresh, and the server never stops answering."""
    from assetforge.project import load_project
    from assetforge.serve import start

    root = make_live_project(tmp_path / "crash", PLAIN)
    session = start(load_project(root))
    seen: list[list[str]] = []
    crashed = session.state.crashed

    def record(message: str) -> None:
        crashed(message)
        seen.append(list(session.state.errors))

    session.state.crashed = record  # type: ignore[method-assign]

    def broken_build(*args, **kwargs):
        raise RuntimeError("a bug in a build")

    session.watcher.builder.build = broken_build  # the first watcher's builder only
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    try:
        _until(session.state, lambda: session.state.builds >= 1)  # the restarted loop built
        assert seen == [["internal error: RuntimeError: a bug in a build"]]
        assert session.state.errors == []
        assert _request(session, "GET", "/out/textures/moss.png")[0] == 200
    finally:
        session.stop()
        thread.join(60)
    assert not thread.is_alive()


GHOST = """\
[character.ghost]
prompt = "a ghost"
animations.idle = { frames = 3, motion = "tiny", fps = 5 }
"""


def test_an_animated_character_card_plays_its_animation(tmp_path):
    """A character with an animation: its card's preview is the animation as an animated
    WebP (as ``review`` shows it), whose frames are the frame PNGs."""
    import io

    from PIL import Image

    root = make_live_project(tmp_path / "proj", GHOST)
    with open(root / "assetforge.toml", "a") as f:
        f.write('\n[motion.tiny]\nsource = "builtin:tiny-motion-sd15"\n')
    gen = served(root)
    session, _ = next(gen)
    try:
        state = json.loads(_request(session, "GET", "/state")[1])
        (ghost,) = state["assets"]
        assert ghost["preview"].startswith("/anim/sha256:"), ghost
        status, data = _request(session, "GET", ghost["preview"])
        assert status == 200
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "WEBP" and im.n_frames == 3
            for k in range(3):
                im.seek(k)
                frame = Image.open(root / "assets" / "characters" / f"ghost_idle_{k:02d}.png")
                assert im.convert("RGBA").tobytes() == frame.convert("RGBA").tobytes()
        assert _request(session, "GET", "/anim/sha256:" + "0" * 64)[0] == 404
        assert _request(session, "GET", "/anim/../assetforge.toml")[0] == 404
    finally:
        gen.close()
