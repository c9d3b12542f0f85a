"""Near-duplicates: an index of the perceptual hash (``imagehash.phash``) of every output.

The index lives beside the build records (``<state>/qa-phash.log``): one line per output that
qa judged, appended as each is judged, so a build never walks the output folder per asset
(that walk made first builds quadratic). It is seeded once, when it does not exist yet, from
the PNGs already in ``output_dir`` (outputs of an older AssetForge, hand-placed files).

A search looks only within ``max_distance`` bits, with multi-index hashing: the 64-bit hash is
cut into ``max_distance + 1`` chunks, and any hash that close agrees exactly with at least one
chunk (pigeonhole), so each chunk is one dictionary lookup. Candidates found are checked
against the file on disk (it may have been deleted, or never written because it failed a
check), so a stale line never reports a duplicate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .checks import hamming

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import Project

INDEX_NAME = "qa-phash.log"
BITS = 64
SCAN_FROM = 16  # radii from here on: compare with every entry (chunks would be too short)


_DCT: list = []  # the first 8 rows of the 32-point DCT-II matrix (scipy.fftpack's scaling)


def phash(image: Image.Image) -> int:
    """``imagehash.phash`` of the image (grey 32×32 Lanczos thumbnail, 2-D DCT, the 8×8 low
    frequencies above their median, row-major, first bit highest), computed with one small
    matrix product instead of scipy's FFT (whose import alone costs a second)."""
    import numpy as np
    from PIL import Image

    if not _DCT:
        n = np.arange(32)
        _DCT.append(2.0 * np.cos(np.pi * np.arange(8)[:, None] * (2 * n[None, :] + 1) / 64))
    c = _DCT[0]
    grey = image.convert("RGB").convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    # rounded: a flat image's zero coefficients come out as ±1e-13 here, exact 0 in scipy
    low = np.round(c @ np.asarray(grey, dtype=np.float64) @ c.T, 6)
    bits = (low > np.median(low)).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def _chunks(radius: int) -> list[tuple[int, int]]:
    """(shift, mask) of ``radius + 1`` chunks covering the 64 bits."""
    n = radius + 1
    edges = [BITS * i // n for i in range(n + 1)]
    return [(lo, (1 << (hi - lo)) - 1) for lo, hi in zip(edges, edges[1:], strict=False)]


class PhashIndex:
    """output path (relative to output_dir, posix) -> perceptual hash, on disk as a log."""

    def __init__(self, log: Path, root: Path):
        self.log, self.root = log, root
        self.hashes: dict[str, int] = {}
        self._tables: dict[int, list[dict[int, set[str]]]] = {}  # radius -> chunk tables
        self._lines = 0
        # the log's size as last read or written (changed by another process: reload);
        # -1: no state folder yet, the index lives in memory; None: not read yet
        self._size: int | None = None

    # -- persistence -----------------------------------------------------------------------
    def sync(self) -> None:
        """Read the log when it changed on disk since this process last saw it; seed it
        from output_dir when there is none."""
        try:
            size = self.log.stat().st_size
        except OSError:
            size = -1
        if size == self._size:
            return
        self.hashes.clear()
        self._tables.clear()
        self._lines = 0
        if size < 0:  # no index yet (or it was deleted): seeded once from output_dir
            self._seed()
            return
        try:
            text = self.log.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        for line in text.splitlines():
            h, sep, rel = line.partition("\t")
            if not sep:
                continue
            self._lines += 1
            if h == "-":
                self.hashes.pop(rel, None)
                continue
            try:
                self.hashes[rel] = int(h, 16)
            except ValueError:
                continue
        self._size = size

    def _seed(self) -> None:
        from PIL import Image

        if self.root.is_dir():
            for path in sorted(self.root.rglob("*.png")):  # once per index, never per asset
                if path.name.startswith("."):
                    continue
                try:
                    with Image.open(path) as im:
                        self.hashes[path.relative_to(self.root).as_posix()] = phash(im)
                except (OSError, ValueError):
                    continue
        self._rewrite()

    def _rewrite(self) -> None:
        if not self.log.parent.is_dir():
            self._size = -1
            return
        tmp = self.log.with_name(f".{INDEX_NAME}.{os.getpid()}.tmp")
        tmp.write_text("".join(f"{h:016x}\t{rel}\n" for rel, h in sorted(self.hashes.items())),
                       "utf-8")
        os.replace(tmp, self.log)
        self._lines = len(self.hashes)
        self._size = self.log.stat().st_size

    def _append(self, line: str) -> None:
        if self._size is None or self._size < 0:
            if self.log.parent.is_dir():  # the state folder exists now: persist it all
                self._rewrite()
            return
        data = line.encode()
        with open(self.log, "ab") as f:
            f.write(data)
        self._size += len(data)
        self._lines += 1
        if self._lines > 2 * len(self.hashes) + 1000:  # mostly superseded lines: compact
            self._rewrite()

    # -- updates and search -----------------------------------------------------------------
    def put(self, rel: str, h: int) -> None:
        old = self.hashes.get(rel)
        if old == h:
            return
        if old is not None:
            self._unindex(rel, old)
        self.hashes[rel] = h
        for radius, tables in self._tables.items():
            for (shift, mask), table in zip(_chunks(radius), tables, strict=True):
                table.setdefault((h >> shift) & mask, set()).add(rel)
        if rel and "\n" not in rel and "\t" not in rel:
            self._append(f"{h:016x}\t{rel}\n")

    def drop(self, rel: str) -> None:
        old = self.hashes.pop(rel, None)
        if old is not None:
            self._unindex(rel, old)
            self._append(f"-\t{rel}\n")

    def _unindex(self, rel: str, h: int) -> None:
        for radius, tables in self._tables.items():
            for (shift, mask), table in zip(_chunks(radius), tables, strict=True):
                table.get((h >> shift) & mask, set()).discard(rel)

    def _candidates(self, h: int, radius: int) -> set[str] | list[str]:
        if radius >= SCAN_FROM:
            return list(self.hashes)
        tables = self._tables.get(radius)
        if tables is None:
            tables = [{} for _ in range(radius + 1)]
            for rel, other in self.hashes.items():
                for (shift, mask), table in zip(_chunks(radius), tables, strict=True):
                    table.setdefault((other >> shift) & mask, set()).add(rel)
            self._tables[radius] = tables
        found: set[str] = set()
        for (shift, mask), table in zip(_chunks(radius), tables, strict=True):
            found |= table.get((h >> shift) & mask, set())
        return found

    def within(self, h: int, radius: int, exclude: str) -> list[tuple[int, str]]:
        """(distance, path) of every output within ``radius`` bits of ``h``, nearest first,
        each checked against its file on disk."""
        from PIL import Image

        out = []
        for rel in sorted(self._candidates(h, radius)):
            if rel == exclude or hamming(h, self.hashes[rel]) > radius:
                continue
            path = self.root / rel
            try:  # the file decides: deleted, never written, or edited since it was indexed
                with Image.open(path) as im:
                    actual = phash(im)
            except (OSError, ValueError):
                self.drop(rel)
                continue
            if actual != self.hashes[rel]:
                self.put(rel, actual)
            d = hamming(h, actual)
            if d <= radius:
                out.append((d, rel))
        return sorted(out)


_INDEXES: dict[Path, PhashIndex] = {}


def index_for(project: Project) -> PhashIndex:
    log = project.state_dir / INDEX_NAME
    index = _INDEXES.get(log)
    if index is None or index.root != project.output_dir:
        index = _INDEXES[log] = PhashIndex(log, project.output_dir)
    index.sync()
    return index


def nearest(image: Image.Image, project: Project, own: Path,
            radius: int) -> tuple[str, int] | None:
    """The output most like ``image`` within ``radius`` bits (path, Hamming distance), or
    None; then ``image`` is indexed as ``own``'s content."""
    index = index_for(project)
    mine = phash(image)
    try:
        rel = own.relative_to(project.output_dir).as_posix()
    except ValueError:
        rel = ""
    found = index.within(mine, radius, rel)
    if rel:
        index.put(rel, mine)
    return (found[0][1], found[0][0]) if found else None
