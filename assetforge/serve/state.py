"""What the live page shows, kept by the build thread and read by the HTTP threads.

One snapshot (a JSON-able dict) per change, with a version number: the SSE stream of each open
page waits on the condition and sends the new snapshot when the version moves.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..hashing import bytes_hash

if TYPE_CHECKING:
    from ..errors import UserError
    from ..interfaces import AssetSpec
    from ..project import Project
    from ..results import BuildResult

# a terrain set writes its sample map as ``ID.sample.png``
_PREVIEW = re.compile(r"(^|[/_.-])(preview|sample)[^/]*\.(png|gif|webp|apng)$"
                      r"|\.(gif|webp|apng)$", re.I)


def default_preview(kind: str, outputs: list[str]) -> str | None:
    """A kind-specific preview among an asset's outputs: an animation (GIF, WebP, APNG) or a
    file named ``…preview….png`` (a terrain set's sample map). None: the card shows the
    outputs only."""
    return next((o for o in outputs if _PREVIEW.search(o)), None)


# kind → chooser of the preview output; kinds added later (terrain sets, animations) register
# theirs here, and the card shows the chosen file above the outputs.
PREVIEWS: dict[str, Callable[[str, list[str]], str | None]] = {}


class LiveState:
    """The assets, their current and previous images, reasons, candidates and errors."""

    def __init__(self, project: Project):
        self.project = project
        self.cond = threading.Condition()
        self.version = 0
        self.closing = False
        self.assets: dict[str, dict[str, Any]] = {}
        self.specs: dict[str, AssetSpec] = {}
        self.errors: list[str] = []  # file:line: key: message of the current broken save
        self.building = False
        self.changed: list[str] = []
        self.builds = 0
        self._current: dict[str, str] = {}  # output path → hash shown now
        self._previous: dict[str, str] = {}  # output path → hash shown before it
        self._hashes: dict[str, tuple[int, int, str]] = {}  # path → (size, mtime_ns, hash)
        # a character's animation as an animated WebP, by the hash of its frames and timing
        # (made when its frames change; only those of the last build are kept)
        self.animated: dict[str, bytes] = {}

    # -- readers (HTTP threads) ---------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.cond:
            return {"version": self.version, "project": self.project.name,
                    "building": self.building, "changed": list(self.changed),
                    "builds": self.builds, "errors": list(self.errors),
                    "assets": [dict(a) for a in self.assets.values()]}

    def wait_change(self, version: int, timeout: float) -> int:
        with self.cond:
            if self.version == version and not self.closing:
                self.cond.wait(timeout)
            return self.version

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()

    def _publish(self) -> None:  # with self.cond held
        self.version += 1
        self.cond.notify_all()

    # -- writers (the build thread) ----------------------------------------------------------
    def started(self, changed: list[Path]) -> None:
        names = [self.project.rel(p) if p.is_absolute() else str(p) for p in changed]
        with self.cond:
            self.building, self.changed = True, names
            self._publish()

    def failed(self, error: UserError) -> None:
        with self.cond:
            self.building = False
            self.errors = [str(p) for p in error.problems]
            self._publish()

    def crashed(self, message: str) -> None:
        """An unexpected error in a build: shown like a manifest error; the server lives."""
        with self.cond:
            self.building = False
            self.errors = [f"internal error: {message}"]
            self._publish()

    def built(self, result: BuildResult, project: Project,
              candidates: dict[str, list[Any]]) -> None:
        self.project = project
        plans = {a.id: a for a in result.plan.assets}
        assets: dict[str, dict[str, Any]] = {}
        animated: dict[str, bytes] = {}
        for a in result.assets:
            plan = plans.get(a.id)
            kind = plan.spec.kind if plan is not None else ""
            old = self.assets.get(a.id, {})
            entry: dict[str, Any] = {
                "id": a.id, "kind": kind, "status": a.status, "errors": list(a.errors),
                # why it was last rebuilt: kept while later builds leave it up to date
                "reason": a.reason if a.status != "up-to-date" else old.get("reason", ""),
                "last": a.status if a.status != "up-to-date" else old.get("last", ""),
                "built_at": self.builds if a.status != "up-to-date"
                else old.get("built_at", 0),
                "outputs": [self._output(rel) for rel in a.outputs],
                "candidates": [],
            }
            chooser = PREVIEWS.get(kind, default_preview)
            preview = chooser(kind, list(a.outputs))
            entry["preview"] = (self._output(preview)["url"] if preview else
                                self._animation(plan, animated) if plan is not None else None)
            seeds = {jp.job.seed for jp in plan.jobs} if plan is not None else set()
            for c in candidates.get(a.id, []):
                entry["candidates"].append({"index": c.index, "seed": c.seed, "job": c.job,
                                            "hash": c.hash, "url": f"/blob/{c.hash}",
                                            "picked": c.seed in seeds})
            if plan is not None:
                self.specs[a.id] = plan.spec
            assets[a.id] = entry
        with self.cond:
            self.animated = animated
            self.assets = dict(sorted(assets.items(), key=lambda kv: (kv[1]["kind"], kv[0])))
            self.errors = []
            self.building = False
            self.builds += 1
            self._publish()

    def _animation(self, plan: Any, made: dict[str, bytes]) -> str | None:
        """The URL of the asset's first animation, playing (as ``review`` shows it), when all
        its frames are on disk; None for an asset without animations."""
        spec = plan.spec
        if not spec.animations:
            return None
        anim = next(iter(spec.animations.values()))
        by_job = {jp.job.job_id: jp.job.output for jp in plan.jobs}
        paths = [self.project.output_dir / by_job.get(f"{spec.id}#{f}", "") for f in anim.frames]
        hashes = [self._hash(p) if p.is_file() else None for p in paths]
        if None in hashes:
            return None
        key = bytes_hash(json.dumps([hashes, anim.fps, anim.loop]).encode())
        if key not in made:
            data = self.animated.get(key)
            if data is None:
                from ..review.animated import animated_webp

                data = animated_webp(paths, anim.fps, anim.loop)
            made[key] = data
        return f"/anim/{key}"

    def _output(self, rel: str) -> dict[str, Any]:
        path = self.project.output_dir / rel
        digest = self._hash(path)
        if digest is not None:
            cur = self._current.get(rel)
            if cur is not None and cur != digest:
                self._previous[rel] = cur
            self._current[rel] = digest
        prev = self._previous.get(rel)
        return {"path": rel, "hash": digest,
                "url": f"/out/{quote(rel)}?v={digest[7:23]}" if digest else None,
                "prev_hash": prev, "prev_url": f"/blob/{prev}" if prev else None,
                "image": rel.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".webp"))}

    def _hash(self, path: Path) -> str | None:
        """The file's content hash, re-read only when its size or mtime changed."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = str(path)
        known = self._hashes.get(key)
        if known and known[:2] == (st.st_size, st.st_mtime_ns):
            return known[2]
        try:
            digest = bytes_hash(path.read_bytes())
        except OSError:
            return None
        self._hashes[key] = (st.st_size, st.st_mtime_ns, digest)
        return digest
