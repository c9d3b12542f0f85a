"""The live page's HTTP server: the standard library's ``ThreadingHTTPServer``, no framework.

Routes: ``/`` the page (the run's token inside), ``/events`` Server-Sent Events (one snapshot
per change), ``/state`` the snapshot as JSON, ``/out/PATH`` a file of the output folder,
``/blob/sha256:HEX`` an object of the output cache (previous images, seed candidates),
``/anim/sha256:HEX`` a character's animation as an animated WebP, and ``POST /api/pick``.
Safe by default: every request must name this server in ``Host`` (DNS rebinding), a request
that changes something needs the token, a same-origin ``Origin`` and a JSON body (so another
site's form cannot send it), and files come only from inside the output folder, after ``..``,
encoded slashes and symlinks are resolved.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import mimetypes
import re
import socket
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ..errors import UserError

if TYPE_CHECKING:
    from .state import LiveState

BLOB_RE = re.compile(r"sha256:[0-9a-f]{64}")
KEEPALIVE_S = 15.0
MAX_BODY = 4096
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
PAGE_CSP = ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def safe_file(base: Path, rel: str) -> Path | None:
    """``rel`` (already URL-decoded) inside ``base`` after resolving links, else None."""
    if not rel or "\x00" in rel or "\\" in rel:
        return None
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return None
    try:
        root = base.resolve(strict=True)
        full = (root / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not full.is_relative_to(root) or not full.is_file():
        return None
    return full


class LiveServer(ThreadingHTTPServer):
    daemon_threads = True  # an open event stream never keeps the process alive
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: LiveState, token: str,
                 pick: Any, store: Any, page: Any):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.state, self.token, self.pick, self.store, self.page = (state, token, pick,
                                                                    store, page)
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        # Bound to loopback, only our own names are accepted in Host: a web page whose name
        # resolves to 127.0.0.1 (DNS rebinding) cannot read the page or its token. Bound to
        # another address (--host, warned), any name may reach it; the token still guards.
        self.hosts: set[str] | None = None
        if loopback(str(host)):
            self.hosts = {f"{h}:{port}" for h in (host, "127.0.0.1", "localhost", "[::1]")}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in str(host) else f"http://{host}:{port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A broken connection or a handler bug: one line, never a traceback, server lives.
        err = sys.exc_info()[1]
        if not isinstance(err, ConnectionError | TimeoutError):
            print(f"serve: request failed: {type(err).__name__}: {err}", file=sys.stderr)


class Handler(BaseHTTPRequestHandler):
    server: LiveServer
    server_version = "assetforge"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # quiet: the terminal shows builds, not requests

    # -- responses ---------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None,
              ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _refuse(self, status: int, why: str) -> None:
        self._json(status, {"error": why})

    def _host_ok(self) -> bool:
        host = self.headers.get("Host", "")
        return bool(host) and (self.server.hosts is None or host in self.server.hosts)

    # -- GET ---------------------------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._refuse(HTTPStatus.MISDIRECTED_REQUEST, "unknown Host")
        raw = urlsplit(self.path).path
        if raw == "/":
            body = self.server.page(self.server.state.snapshot(), self.server.token)
            return self._send(200, body.encode(), "text/html; charset=utf-8",
                              {"Content-Security-Policy": PAGE_CSP})
        if raw == "/state":
            return self._json(200, self.server.state.snapshot())
        if raw == "/events":
            return self._events()
        if raw.startswith("/out/"):
            return self._file(raw[len("/out/"):])
        if raw.startswith("/blob/"):
            return self._blob(unquote(raw[len("/blob/"):]))
        if raw.startswith("/anim/"):
            return self._animated(unquote(raw[len("/anim/"):]))
        return self._refuse(404, "not found")

    def _file(self, encoded: str) -> None:
        try:
            rel = unquote(encoded, errors="strict")
        except UnicodeDecodeError:
            return self._refuse(404, "not found")
        path = safe_file(self.server.state.project.output_dir, rel)
        if path is None:
            return self._refuse(404, "not found")
        try:
            data = path.read_bytes()
        except OSError:
            return self._refuse(404, "not found")
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(200, data, ctype)

    def _blob(self, digest: str) -> None:
        if not BLOB_RE.fullmatch(digest):
            return self._refuse(404, "not found")
        data = self.server.store().get(digest, touch=False)
        if data is None:
            return self._refuse(404, "not found")
        ctype = "image/png" if data.startswith(b"\x89PNG") else "application/octet-stream"
        self._send(200, data, ctype, {"Cache-Control": "max-age=31536000, immutable"})

    def _animated(self, digest: str) -> None:
        data = self.server.state.animated.get(digest) if BLOB_RE.fullmatch(digest) else None
        if data is None:
            return self._refuse(404, "not found")
        self._send(200, data, "image/webp", {"Cache-Control": "max-age=31536000, immutable"})

    def _events(self) -> None:
        state = self.server.state
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        for k, v in HEADERS.items():
            self.send_header(k, v)
        self.end_headers()
        version = -1
        try:
            while not state.closing:
                new = state.wait_change(version, KEEPALIVE_S)
                if new == version:
                    self.wfile.write(b": keep-alive\n\n")
                else:
                    version = new
                    data = json.dumps(state.snapshot())
                    self.wfile.write(f"event: state\ndata: {data}\n\n".encode())
                self.wfile.flush()
        except OSError:
            return  # the page went away

    # -- POST --------------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802
        why = self._change_refused()
        if why:
            return self._refuse(HTTPStatus.FORBIDDEN, why)
        if urlsplit(self.path).path != "/api/pick":
            return self._refuse(404, "not found")
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_BODY:
                raise ValueError
            body = json.loads(self.rfile.read(length))
            asset, index = body["asset"], body["index"]
            if not isinstance(asset, str) or type(index) is not int:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self._refuse(400, 'expected {"asset": ID, "index": K}')
        try:
            seed = self.server.pick(asset, index)
        except UserError as e:
            return self._json(409, {"error": str(e)})
        self._json(200, {"asset": asset, "index": index, "seed": seed})

    def _change_refused(self) -> str | None:
        """Why a changing request is refused (None: allowed)."""
        if not self._host_ok():
            return "unknown Host"
        token = self.headers.get("X-AssetForge-Token", "")
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            return "missing or wrong token"
        origin = self.headers.get("Origin")
        if origin != f"http://{self.headers.get('Host')}":
            return "cross-origin request"
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return "expected application/json"
        return None
