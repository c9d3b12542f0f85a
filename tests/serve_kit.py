"""``assetforge serve`` as a real process, for the tests, bench/serve.py and ``make docs``."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

AF = str(Path(sys.executable).with_name("assetforge"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
URL_RE = re.compile(r"serving (http://\S+)")

CONFIG = """\
[project]
name = "live"
output_dir = "assets"
seed_salt = "live"

[models.tiny]
source = "builtin:tiny-sd15"

[kinds.texture]
width = 64
height = 64
steps = 2
"""

MANIFEST = """\
# the live page's test manifest: comments survive a pick
[texture.moss]
prompt = "green moss"

[texture.sand]
prompt = "desert sand"  # kept by pick
candidates = 2
"""


def _default_sigint() -> None:
    # The suite may run with SIGINT ignored; the server's Ctrl-C handling is what is tested.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class ServeProcess:
    """``assetforge serve --port 0`` in ``root``; ``url`` once it listens."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None):
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1",
                        **(env or {}))
        self.proc = subprocess.Popen(
            [AF, "--project", str(root), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env,
            preexec_fn=_default_sigint)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self.wait_for(URL_RE).group(1)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 300) -> re.Match[str]:
        """The first line (from now) matching ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line == "":
                raise AssertionError("serve exited:\n" + "".join(self.output))
            m = pattern.search(line)
            if m:
                return m

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C; the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def make_live_project(root: Path, manifest: str = MANIFEST) -> Path:
    (root / "manifests").mkdir(parents=True)
    (root / "assetforge.toml").write_text(CONFIG)
    (root / "manifests" / "tex.toml").write_text(manifest)
    return root


# -- page helpers (Playwright) ------------------------------------------------------------------
PIXELS_JS = """(sel) => {
  const img = document.querySelector(sel);
  if (!img || !img.complete || !img.naturalWidth) return null;
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  return {w: c.width, h: c.height, hash: img.dataset.hash,
          data: Array.from(g.getImageData(0, 0, c.width, c.height).data)};
}"""


def new_image(asset: str, path: str) -> str:
    return f'#asset-{asset} [data-path="{path}"] .new img'


def shown_loaded(page, asset: str, path: str, digest: str, timeout_ms: int = 300_000) -> None:
    """Wait until the page shows ``digest`` as ``asset``'s output, fully loaded."""
    page.wait_for_function(
        """([sel, h]) => { const i = document.querySelector(sel);
             return i && i.dataset.hash === h && i.complete && i.naturalWidth > 0; }""",
        arg=[new_image(asset, path), digest], timeout=timeout_ms)


def page_pixels(page, asset: str, path: str) -> tuple[int, int, bytes]:
    got = page.evaluate(PIXELS_JS, new_image(asset, path))
    return got["w"], got["h"], bytes(got["data"])
