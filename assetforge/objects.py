"""The content-addressed output store: every output kept by its hash, plus recipe → output refs.

Layout under the store folder (``Project.cache_dir``: ``.assetforge/objects`` unless
``[project] cache_dir``, ``ASSETFORGE_CACHE_DIR`` or ``--cache-dir`` points it elsewhere)::

    sha256/ab/abcdef…        output bytes, named by their sha256
    refs/sha256/12/1234…     text: the output hash a recipe hash produced
    tmp/                     writes in flight, renamed into place when complete

The refs make a shared store (a team share, a CI cache) useful to a clone whose database has
never seen a recipe. Concurrent writers are safe without locks: a file appears under its final
name complete or not at all (temp file + ``os.replace`` in the same folder tree), two writers of
one object write identical bytes, and two writers of one ref write equally valid outputs of
the same recipe. Reads re-hash the bytes, so a damaged object is never restored.

``cache_dir`` may also be an fsspec URL (``s3://bucket/prefix``): ``stores.open_store`` then
returns a ``remote_cache.RemoteObjectStore`` with the same methods; the batched ones (``get_many``,
``find_restorable``) let it answer many jobs in one round of requests.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .hashing import ALGO, bytes_hash
from .tmpfiles import create_temp

if TYPE_CHECKING:
    pass

TMP_MAX_AGE_S = 24 * 3600  # gc removes temp files older than this (writers that died)


def _split(tagged: str) -> tuple[str, str]:
    algo, _, hexdigest = tagged.partition(":")
    if not hexdigest or algo != ALGO or len(hexdigest) < 8 or not hexdigest.isalnum():
        raise ValueError(f"not a {ALGO} hash: {tagged!r}")
    return algo, hexdigest


@dataclass(frozen=True)
class StoredObject:
    hash: str
    path: Path
    size: int
    mtime: float


class ObjectStore:
    """A folder of content-named files; see the module docstring for the layout."""

    remote = False

    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def url(self) -> str:
        return str(self.root)

    # -- paths -------------------------------------------------------------------------------
    def object_path(self, digest: str) -> Path:
        algo, hexd = _split(digest)
        return self.root / algo / hexd[:2] / hexd

    def ref_path(self, recipe_hash: str) -> Path:
        algo, hexd = _split(recipe_hash)
        return self.root / "refs" / algo / hexd[:2] / hexd

    # -- objects -----------------------------------------------------------------------------
    def has(self, digest: str) -> bool:
        try:
            return self.object_path(digest).is_file()
        except ValueError:
            return False

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Store ``data``; return its hash. An existing object is only touched (kept by gc)."""
        digest = digest or bytes_hash(data)
        path = self.object_path(digest)
        if path.is_file():
            self.touch(digest)
            return digest
        self._write(path, data)
        return digest

    def get(self, digest: str, touch: bool = True) -> bytes | None:
        """The object's bytes, or None when absent or damaged (a damaged one is removed)."""
        try:
            path = self.object_path(digest)
            data = path.read_bytes()
        except (OSError, ValueError):
            return None
        if bytes_hash(data) != digest:
            with contextlib.suppress(OSError):
                path.unlink()  # it can never be right again; a later put rewrites it
            return None
        if touch:
            self.touch(digest)
        return data

    def get_many(self, digests: list[str]) -> dict[str, bytes | None]:
        return {d: self.get(d) for d in digests}

    def find_restorable(self, known: dict[str, str | None]) -> dict[str, str]:
        """recipe hash → an output hash in this store, for each recipe that has one.

        ``known``: the output the database names for each recipe (None when none); a
        recipe this clone never built is answered by the store's refs.
        """
        found = {}
        for key, digest in known.items():
            if digest is None or not self.has(digest):
                digest = self.ref(key)
            if digest is not None and self.has(digest):
                found[key] = digest
        return found

    def touch(self, digest: str) -> None:
        """Mark an object used now: gc keeps objects used within its window."""
        with contextlib.suppress(OSError, ValueError):
            os.utime(self.object_path(digest))

    def remove(self, digest: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.object_path(digest).unlink()

    def remove_many(self, digests: list[str]) -> None:
        for digest in digests:
            self.remove(digest)

    def objects(self) -> Iterator[StoredObject]:
        top = self.root / ALGO
        if not top.is_dir():
            return
        for sub in sorted(top.iterdir()):
            if not sub.is_dir():
                continue
            for entry in os.scandir(sub):
                if entry.is_file() and not entry.name.startswith("."):
                    st = entry.stat()
                    yield StoredObject(f"{ALGO}:{entry.name}", Path(entry.path), st.st_size,
                                       st.st_mtime)

    # -- refs --------------------------------------------------------------------------------
    def set_ref(self, recipe_hash: str, digest: str) -> None:
        path = self.ref_path(recipe_hash)
        try:
            if path.read_text("ascii").strip() == digest:
                return
        except (OSError, UnicodeDecodeError):
            pass
        self._write(path, digest.encode("ascii") + b"\n")

    def ref(self, recipe_hash: str) -> str | None:
        try:
            text = self.ref_path(recipe_hash).read_text("ascii").strip()
            _split(text)
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        return text

    def refs_for(self, recipe_hashes: list[str]) -> dict[str, str]:
        return {k: d for k in recipe_hashes if (d := self.ref(k)) is not None}

    def ref_entries(self) -> Iterator[tuple[str, str, Path]]:
        """(recipe hash, output hash or "" when unreadable, file) of every ref."""
        for key, path in self.refs():
            try:
                target = path.read_text("ascii").strip()
            except (OSError, UnicodeDecodeError):
                target = ""
            yield key, target, path

    def remove_refs(self, paths: list[Path]) -> None:
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()

    def refs(self) -> Iterator[tuple[str, Path]]:
        top = self.root / "refs" / ALGO
        if not top.is_dir():
            return
        for sub in sorted(top.iterdir()):
            if sub.is_dir():
                for entry in os.scandir(sub):
                    if entry.is_file():
                        yield f"{ALGO}:{entry.name}", Path(entry.path)

    # -- writing -----------------------------------------------------------------------------
    def _write(self, path: Path, data: bytes) -> None:
        # Created with mode 0666 less the umask (group/others read as the umask allows); the
        # folders are made only when missing (no mkdir per write).
        fd, tmp = create_temp(self.root / "tmp", f"{platform.node()}-", "")
        try:
            # No fsync: every read re-hashes the bytes and a ref names a hash, so an object or
            # ref that a power loss left short is a miss, never a wrong restore. The output
            # itself is fsynced before its record (outputs.write_atomic).
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            try:
                os.replace(tmp, path)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def stale_temp_files(self, max_age_s: float = TMP_MAX_AGE_S) -> list[Path]:
        """Temp files of writers that died (old enough that no live writer owns them)."""
        tmpdir = self.root / "tmp"
        if not tmpdir.is_dir():
            return []
        cutoff = time.time() - max_age_s
        out = []
        for entry in os.scandir(tmpdir):
            with contextlib.suppress(OSError):
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    out.append(Path(entry.path))
        return out

    def remove_temp_files(self, paths: list[Path]) -> None:
        for p in paths:
            with contextlib.suppress(OSError):
                p.unlink()


# -- garbage collection ----------------------------------------------------------------------
GC_KEEP_DAYS = 30.0
GC_POLICY = """\
An object is kept when any of these holds, and removed otherwise:
  1. it is the output of a current recipe (an asset in the manifests now, per the database
     or the store's refs), or the newest recorded output of a current asset (what is, or
     should be, on disk: also the way back from a hand edit);
  2. a record of this project younger than --keep-days produced, restored or adopted it;
  3. the object itself was written or restored within --keep-days (file mtime): on a shared
     store this protects what other clones and machines use, since their records are not here.
Refs whose object is gone are removed; temp files of writers that died a day ago are removed."""


@dataclass
class GcReport:
    removed: list[StoredObject]
    kept: int
    refs_removed: int
    temp_removed: int
    dry_run: bool

    @property
    def freed_bytes(self) -> int:
        return sum(o.size for o in self.removed)

    def as_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "removed": [o.hash for o in self.removed],
                "removed_count": len(self.removed), "freed_bytes": self.freed_bytes,
                "kept": self.kept, "refs_removed": self.refs_removed,
                "temp_removed": self.temp_removed}


def collect_garbage(builder: object, keep_days: float = GC_KEEP_DAYS, dry_run: bool = False,
                    now: float | None = None) -> GcReport:
    """Remove objects no current or recent recipe needs (policy: ``GC_POLICY``).

    ``builder`` is an ``engine.Builder``; its plan decides what is current, so a manifest
    error stops gc before anything is removed. Call it holding the project lock.
    """
    from datetime import UTC, datetime

    from .records import latest_builds, outputs_since, recipe_outputs

    if keep_days < 0:
        raise ValueError("keep_days must not be negative")
    project = builder.project  # type: ignore[attr-defined]
    store = builder.objects  # type: ignore[attr-defined]
    plan = builder.plan()  # type: ignore[attr-defined]
    now = time.time() if now is None else now
    cutoff = now - keep_days * 86400
    db = project.database

    jobs = plan.jobs()
    keys = [jp.key for jp in jobs if jp.key]
    keep = set(recipe_outputs(db, keys).values())
    keep |= set(store.refs_for(keys).values())
    current = {jp.job.job_id for jp in jobs}
    keep |= {b.output_hash for j, b in latest_builds(db).items() if j in current}
    keep |= outputs_since(db, datetime.fromtimestamp(cutoff, UTC).isoformat(
        timespec="milliseconds"))

    removed: list[StoredObject] = []
    present: set[str] = set()
    kept = 0
    for obj in store.objects():
        if obj.hash in keep or obj.mtime >= cutoff:
            kept += 1
            present.add(obj.hash)
            continue
        removed.append(obj)
    if not dry_run:
        store.remove_many([o.hash for o in removed])
    dangling = [handle for _key, target, handle in store.ref_entries() if target not in present]
    if not dry_run:
        store.remove_refs(dangling)
    temps = store.stale_temp_files()
    if not dry_run:
        store.remove_temp_files(temps)
    return GcReport(removed, kept, len(dangling), len(temps), dry_run)
