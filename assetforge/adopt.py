"""Outputs that prove themselves: read the recipe embedded in a PNG, and rebuild records from it.

A fresh clone that commits its outputs has no database, yet every PNG carries its recipe and
recipe hash (``outputs.RECIPE_CHUNK``). Planning reads that chunk for jobs without a record, so
``status`` tells up-to-date from stale; ``adopt`` then writes an ``adopted`` record per file so
the next plan takes the fast stat-only path. The reader is a few lines of ``struct`` + ``zlib``
rather than PIL: planning must stay import-light even on a fresh clone of 10,000 assets.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .outputs import RECIPE_CHUNK

if TYPE_CHECKING:
    from .plan import JobPlan
    from .project import Project

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"iTXt", b"tEXt", b"zTXt")


@dataclass(frozen=True)
class Embedded:
    """The recipe an output file says it was made from, and the file's stat when read."""

    recipe_hash: str
    recipe: dict[str, Any]
    size: int
    mtime_ns: int


def _text_value(ctype: bytes, body: bytes, keyword: bytes) -> str | None:
    key, sep, rest = body.partition(b"\0")
    if not sep or key != keyword:
        return None
    if ctype == b"tEXt":
        return rest.decode("latin-1")
    if ctype == b"zTXt":
        return zlib.decompress(rest[1:]).decode("latin-1")
    compressed, _method = rest[0], rest[1]
    _lang, _, rest = rest[2:].partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    return (zlib.decompress(text) if compressed else text).decode("utf-8")


def png_text(path: Path, keyword: str) -> str | None:
    """The value of text chunk ``keyword`` in a PNG, or None (also for a non-PNG or damage).

    Image data is skipped with ``seek``; only text chunks are read and CRC-checked.
    """
    want = keyword.encode("latin-1")
    try:
        with open(path, "rb") as f:
            if f.read(8) != PNG_SIGNATURE:
                return None
            while True:
                head = f.read(8)
                if len(head) < 8:
                    return None
                length, ctype = struct.unpack(">I4s", head)
                if ctype == b"IEND":
                    return None
                if ctype not in _TEXT_CHUNKS:
                    f.seek(length + 4, 1)
                    continue
                body = f.read(length)
                crc = f.read(4)
                if len(body) < length or len(crc) < 4:
                    return None
                if zlib.crc32(ctype + body) != struct.unpack(">I", crc)[0]:
                    return None
                value = _text_value(ctype, body, want)
                if value is not None:
                    return value
    except (OSError, ValueError, IndexError, zlib.error, UnicodeDecodeError):
        return None


def read_embedded(path: Path) -> Embedded | None:
    """The embedded recipe of an AssetForge output, or None when it has none."""
    try:
        st = path.stat()
    except OSError:
        return None
    raw = png_text(path, RECIPE_CHUNK)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        key, recipe = data["hash"], data["recipe"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(key, str) or not isinstance(recipe, dict):
        return None
    return Embedded(key, recipe, st.st_size, st.st_mtime_ns)


def adopt(project: Project, store: Any, jobs: list[JobPlan]) -> int:
    """Write an ``adopted`` record for each job whose output proved its recipe (``jp.embedded``).

    The file is hashed and kept in the object store like any output. Jobs whose file changed
    since planning read it are skipped (the next plan reads it again). Returns the count.
    """
    from .db import Generation
    from .hashing import bytes_hash, canonical_json
    from .objects import open_store
    from .records import LastBuild

    objects = open_store(project)
    rows: list[tuple[JobPlan, Generation]] = []
    for jp in jobs:
        emb = jp.embedded
        if emb is None:
            continue
        path = project.output_dir / jp.job.output
        try:
            data = path.read_bytes()
            st = path.stat()
        except OSError:
            continue
        if (st.st_size, st.st_mtime_ns) != (emb.size, emb.mtime_ns):
            continue
        digest = bytes_hash(data)
        try:
            objects.put(data, digest)
            objects.set_ref(emb.recipe_hash, digest)
        except OSError:
            pass  # an unreachable remote cache: the record is what adoption needs
        recipe = emb.recipe
        plugins = recipe.get("plugins") or {}
        gen = recipe.get("generator") or {}
        versions = {p: (v or {}).get("version") for p, v in plugins.items()}
        if gen.get("name"):
            versions[gen["name"]] = gen.get("version")
        rows.append((jp, Generation(
            asset_id=jp.job.asset_id, job_id=jp.job.job_id, kind=jp.job.kind,
            view=jp.job.view, status="adopted", recipe_hash=emb.recipe_hash,
            recipe_json=canonical_json(recipe), prompt=str(recipe.get("prompt", "")),
            negative_prompt=str(recipe.get("negative_prompt", "")),
            seed=int(recipe.get("seed", 0) or 0), model_name=jp.job.model,
            model_hash=str((recipe.get("model") or {}).get("hash", "")),
            plugin_versions_json=json.dumps(versions, sort_keys=True),
            output_path=jp.job.output, output_hash=digest, output_size=st.st_size,
            output_mtime_ns=st.st_mtime_ns,
            metrics_json=json.dumps({"adopted_from": "embedded recipe"}),
        )))
    store.add_all([row for _jp, row in rows])
    for jp, row in rows:
        jp.last = LastBuild(jp.job.job_id, row.recipe_hash, jp.job.output, row.output_hash or "",
                            row.output_size or 0, row.output_mtime_ns or 0, row.id)
        jp.embedded = None
    return len(rows)
