"""The recipe embedded in an AssetForge PNG, read without PIL: the one reader of it.

Every output carries its recipe and recipe hash in an ``iTXt`` chunk (``RECIPE_CHUNK``).
Planning reads it on fresh clones (a no-op must stay import-light, so a few lines of
``struct`` + ``zlib`` instead of PIL), ``repair`` reads it to rebuild records, and
``outputs.read_embedded_recipe`` answers from it.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECIPE_CHUNK = "assetforge-recipe"
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
