"""Line numbers for TOML keys (``tomllib`` gives none) so errors can say ``file:line``.

A line scan, not a parser: it maps each ``[table]`` header and each ``key =`` line to its
dotted path. Multi-line strings and arrays are skipped over. Good enough to point at a key.
"""

from __future__ import annotations

import re

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
