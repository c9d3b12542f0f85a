"""``assetforge serve``: the watch loop with a live page.

The build runs on the calling (main) thread through ``watch.Watcher``, so Ctrl-C stops a
generation at once and leaves nothing half-written (atomic writes, records after files). The
HTTP server (``http.py``) runs on a thread of its own and reads ``LiveState``; a pick rewrites
the manifest (``review.pick``, comments kept) and the watcher's rebuild restores the picked
candidate from the output cache. A build that fails, even with an unexpected exception, is
shown on the page and the server keeps serving.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from .state import PREVIEWS, LiveState, default_preview

if TYPE_CHECKING:
    from ..project import Project
    from .http import LiveServer

__all__ = ["PREVIEWS", "LiveState", "Session", "default_preview", "start"]


@dataclass
class Session:
    """A running server and the watcher that feeds it; ``run()`` blocks."""

    server: LiveServer
    state: LiveState
    watcher: Any
    token: str
    on_message: Callable[[str], None]

    @property
    def url(self) -> str:
        return self.server.url

    def run(self) -> None:
        """Serve and rebuild until ``stop()`` or KeyboardInterrupt (which propagates)."""
        thread = threading.Thread(target=self.server.serve_forever, name="assetforge-serve",
                                  daemon=True)
        thread.start()
        try:
            while True:
                try:
                    self.watcher.run()
                    return
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as e:  # noqa: BLE001 - a build bug must not end the server
                    self.state.crashed(f"{type(e).__name__}: {e}")
                    self.on_message(f"build failed unexpectedly: {type(e).__name__}: {e}")
                    if self.watcher._stop:
                        return
                    self.watcher = self.watcher.restart()
        finally:
            self.state.close()
            self.server.shutdown()
            self.server.server_close()

    def stop(self) -> None:
        self.watcher.stop()


def start(project: Project, host: str = "127.0.0.1", port: int = 0, debounce: float = 0.1,
          on_message: Callable[[str], None] = lambda m: None) -> Session:
    """Bind the server and prepare the watcher (nothing is built until ``run()``)."""
    from ..review.collect import candidates as recorded_candidates
    from ..review.pick import pick_candidate
    from ..schema import refresh
    from ..stores import open_store
    from ..watch import WatchCallbacks, Watcher
    from .http import LiveServer
    from .page import render

    state = LiveState(project)
    token = secrets.token_urlsafe(32)
    holder: dict[str, Any] = {}

    def on_result(result: Any) -> None:
        builder = holder["watcher"].builder
        try:
            if any(a.spec.get("candidates") for a in result.plan.assets) \
                    and not result.stopped:
                from ..candidates import render_candidates

                _n, errors = render_candidates(builder, result.plan)
                for err in errors:
                    on_message(f"candidate failed: {err}")
            refresh(builder.project, builder.plugins)
            found: dict[str, list[Any]] = {}
            for c in recorded_candidates(builder.project):
                found.setdefault(c.asset, []).append(c)
        except UserError as e:
            state.failed(e)
            return
        state.built(result, builder.project, found)
        s = result.summary()
        on_message(f"{s['built']} built, {s['restored']} restored, {s['failed']} failed")

    def on_error(e: UserError) -> None:
        state.failed(e)
        for p in e.problems:
            on_message(f"error: {p}")

    callbacks = WatchCallbacks(on_change=state.started, on_result=on_result, on_error=on_error)

    def make_watcher() -> Watcher:
        current = holder["watcher"].builder.project if "watcher" in holder else project
        w = Watcher(current, debounce=debounce, callbacks=callbacks)
        w.restart = make_watcher  # type: ignore[attr-defined]
        holder["watcher"] = w
        return w

    def pick(asset: str, index: int) -> int:
        spec = state.specs.get(asset)
        if spec is None:
            raise UserError(f"unknown asset {asset!r}")
        return pick_candidate(holder["watcher"].builder.project, spec, index)

    def store() -> Any:
        return open_store(holder["watcher"].builder.project)

    server = LiveServer((host, port), state, token, pick, store, render)  # OSError: in use
    try:
        watcher = make_watcher()
    except BaseException:
        server.server_close()
        raise
    return Session(server, state, watcher, token, on_message)
