"""Line numbers for TOML keys (``tomllib`` gives none) so errors can say ``file:line``.

A line scan, not a parser: it maps each ``[table]`` header and each ``key =`` line to its
dotted path. Multi-line strings and arrays are skipped over. Good enough to point at a key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .interfaces import Location

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_BARE = r"""(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)"""
_KEY = re.compile(rf"^\s*({_BARE}(?:\s*\.\s*{_BARE})*)\s*=")
_PART = re.compile(r"""\s*("([^"]*)"|'([^']*)'|[A-Za-z0-9_\-]+)\s*""")


def _split(dotted: str) -> tuple[str, ...]:
    parts = []
    for m in _PART.finditer(dotted):
        if m.group(2) is not None:
            parts.append(m.group(2))
        elif m.group(3) is not None:
            parts.append(m.group(3))
        else:
            parts.append(m.group(1))
    return tuple(parts)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map dotted key paths (tables and keys) to 1-based line numbers."""
    out: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_multiline: str | None = None
    depth = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if in_multiline in line:
                in_multiline = None
            continue
        if depth > 0:  # inside a multi-line array
            depth += line.count("[") - line.count("]")
            continue
        m = _ARRAY_HEADER.match(line) or _HEADER.match(line)
        if m:
            table = _split(m.group(1))
            out.setdefault(table, n)
            continue
        m = _KEY.match(line)
        if m:
            out.setdefault(table + _split(m.group(1)), n)
            rest = line[m.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    in_multiline = quote
            if rest.strip().startswith("["):
                depth = rest.count("[") - rest.count("]")
    return out


class TomlFile:
    """A TOML file read for a plugin or the core: its data, and ``where(*key)`` → ``file:line``.

    Raises ``UserError`` naming the file (and line) for unreadable text or invalid TOML.
    """

    def __init__(self, path: Path):
        from .errors import Problem, UserError, toml_problem
        from .interfaces import Location

        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError([Problem(Location(path), None, "file not found")]) from None
        except (OSError, UnicodeDecodeError) as e:
            raise UserError([Problem(Location(path), None, f"cannot read: {e}")]) from None
        try:
            self.data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise UserError([toml_problem(path, e)]) from None
        self.text = text
        self.lines = key_lines(text)

    def where(self, *key: str) -> Location:
        """The line of ``key`` (or of its nearest enclosing table) in this file."""
        from .interfaces import Location

        while key and key not in self.lines:
            key = key[:-1]
        return Location(self.path, self.lines.get(key, 0))
