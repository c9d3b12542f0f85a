"""Line numbers for TOML keys (``tomllib`` gives none) so errors can say ``file:line``.

A line scan, not a parser: it maps each ``[table]`` header and each ``key =`` line to its
dotted path. Multi-line strings and arrays are skipped over. Good enough to point at a key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from .errors import Location, Problem, UserError

# Limits on what a TOML file of a project may hold, each checked before the data is used
# (deeper nesting overflows Python's stack in the parser and in JSON; megabyte names make
# messages and did-you-mean searches crawl). Every message states its limit.
MAX_DEPTH = 32  # nested tables and arrays below the document
MAX_KEY_CHARS = 128  # a key or table name (asset ids, kinds, model names)
MAX_STRING_CHARS = 100_000  # one string value

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
    for n, line in enumerate(text.split("\n"), start=1):  # TOML ends lines only at \n
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


def line_of(lines: dict[tuple[str, ...], int], key: tuple[str, ...]) -> int:
    """The line of ``key`` in ``key_lines`` output: its own, else its first child's (a table
    named only by dotted headers, ``[texture.a]`` names ``texture``), else its parent's."""
    while key:
        if key in lines:
            return lines[key]
        children = [n for k, n in lines.items() if k[:len(key)] == key]
        if children:
            return min(children)
        key = key[:-1]
    return 0


def unterminated_line(text: str) -> tuple[int, str]:
    """Where the construct still open at the end of ``text`` starts: (line, what it is).

    For TOML errors reported "at end of document". Falls back to the last line.
    """
    stack: list[tuple[int, str]] = []  # (line, what) of open brackets and strings
    line, i, n = 1, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            if stack and stack[-1][1] in ("string", "table header"):
                stack.pop()  # closed by the newline (tomllib reports those with a line)
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif c in "\"'":
            triple = text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            start = line
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                if text[i] == "\\" and c == '"':
                    i += 1
                elif text[i] == "\n":
                    if not triple:
                        break
                    line += 1
                i += 1
            if i >= n:
                return start, "multi-line string" if triple else "string"
            if text[i] == "\n":
                continue
            i += len(quote)
            continue
        elif c in "[{":
            at_line_start = not text[text.rfind("\n", 0, i) + 1:i].strip()
            header = c == "[" and at_line_start and not stack
            stack.append((line, "table header" if header else
                          ("array" if c == "[" else "inline table")))
        elif c in "]}" and stack:
            stack.pop()
        i += 1
    if stack:
        return stack[0]
    return max(line - (1 if text.endswith("\n") else 0), 1), ""


def _deep_line(text: str, limit: int) -> int:
    """The line where arrays and inline tables first nest deeper than ``limit``."""
    depth, line, in_string = 0, 1, ""
    for c in text:
        if c == "\n":
            line += 1
        if in_string:
            if c == in_string:
                in_string = ""
        elif c in "\"'":
            in_string = c
        elif c in "[{":
            depth += 1
            if depth > limit:
                return line
        elif c in "]}":
            depth -= 1
    return 1


def decode(path: Path, raw: bytes) -> str:
    """UTF-8 text of a TOML file; a bad byte is reported with its line and column."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise UserError([Problem(Location(path, line), None,
                                 f"not UTF-8 text: byte 0x{raw[e.start]:02x} at column "
                                 f"{column} ({e.reason})")]) from None


def toml_problem(path: Path, e: tomllib.TOMLDecodeError, text: str | None = None) -> Problem:
    """``file:line: invalid TOML: …`` for a parse error. An error "at end of document" (an
    unterminated string, array or table header) is placed where that construct started."""
    # Python 3.11's TOMLDecodeError carries the position only in its message.
    msg = str(e)
    m = re.search(r" \(at line (\d+), column (\d+)\)", msg)
    line = int(m.group(1)) if m else 0
    msg = msg[:m.start()] if m else msg
    if not m and msg.endswith(" (at end of document)"):
        if text is None:
            try:
                text = path.read_bytes().decode("utf-8", "replace")
            except OSError:
                text = ""
        line, what = unterminated_line(text)
        msg = msg.removesuffix(" (at end of document)")
        if what:
            msg += f" (the {what} that starts here is never closed)"
    return Problem(Location(path, line), None, f"invalid TOML: {msg}")


def parse(path: Path, raw: bytes) -> tuple[dict[str, Any], str]:
    """Decode, parse and check the limits of a TOML file: (data, text), or ``UserError``
    with ``file:line`` (never a traceback, whatever the bytes)."""
    text = decode(path, raw)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError([toml_problem(path, e, text)]) from None
    except RecursionError:
        raise UserError([Problem(Location(path, _deep_line(text, MAX_DEPTH)), None,
                                 f"nested deeper than {MAX_DEPTH} levels")]) from None
    problems = check_limits(data, path, text)
    if problems:
        raise UserError(problems)
    return data, text


def check_limits(data: dict[str, Any], path: Path, text: str) -> list[Problem]:
    """Depth, key length, string length and NUL characters of parsed TOML ``data``."""
    bad: list[tuple[tuple[str, ...], str]] = []

    def walk(value: Any, key: tuple[str, ...], depth: int) -> None:
        if bad:
            return
        if isinstance(value, str):
            if len(value) > MAX_STRING_CHARS:
                bad.append((key, f"string of {len(value):,} characters; the limit is "
                                 f"{MAX_STRING_CHARS:,}"))
            elif "\0" in value:
                bad.append((key, "contains a NUL character"))
            return
        if not isinstance(value, dict | list):
            return
        if depth > MAX_DEPTH:
            bad.append((key, f"nested deeper than {MAX_DEPTH} levels"))
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*key, str(i)) if len(key) < MAX_DEPTH else key, depth + 1)
            return
        for k, v in value.items():
            if len(k) > MAX_KEY_CHARS:
                bad.append(((*key, k), f"name of {len(k):,} characters; the limit is "
                                       f"{MAX_KEY_CHARS}"))
                return
            if "\0" in k:
                bad.append(((*key, k), "name contains a NUL character"))
                return
            walk(v, (*key, k), depth + 1)

    walk(data, (), 0)
    if not bad:
        return []
    key, message = bad[0]
    line = line_of(key_lines(text), key) or _deep_line(text, MAX_DEPTH)
    parts = [k if len(k) <= 40 else k[:37] + "..." for k in key]
    shown = ".".join(parts if len(parts) <= 6 else [*parts[:5], "…"])
    return [Problem(Location(path, line), shown or None, message)]


class TomlFile:
    """A TOML file read for a plugin or the core: its data, and ``where(*key)`` → ``file:line``.

    Raises ``UserError`` naming the file (and line) for unreadable text or invalid TOML.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise UserError([Problem(Location(path), None, "file not found")]) from None
        except OSError as e:
            raise UserError([Problem(Location(path), None, f"cannot read: {e}")]) from None
        self.data: dict[str, Any]
        self.data, text = parse(path, raw)
        self.text = text
        self.lines = key_lines(text)

    def where(self, *key: str) -> Location:
        """The line of ``key`` (or of its nearest enclosing table) in this file."""
        return Location(self.path, line_of(self.lines, key))
