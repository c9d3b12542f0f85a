"""Line numbers for TOML keys (``tomllib`` gives none) so errors can say ``file:line``.

A line scan, not a parser: it maps each ``[table]`` header and each ``key =`` line to its
dotted path. Multi-line strings and arrays are skipped over. Good enough to point at a key.
"""

from __future__ import annotations

import re
import tomllib
from itertools import islice
from pathlib import Path
from typing import Any

from .errors import Location, Problem, UserError

# Limits on what a TOML file of a project may hold, each checked before the data is used
# (deeper nesting overflows Python's stack in the parser and in JSON; megabyte names make
# messages and did-you-mean searches crawl). Every message states its limit.
MAX_DEPTH = 32  # nested tables and arrays below the document
MAX_KEY_CHARS = 128  # a key or table name (asset ids, kinds, model names)
MAX_STRING_CHARS = 100_000  # one string value

# Possessive quantifiers (``*+``, ``++``): nothing is ever given back, so each match is
# linear in the line's length and runs in C. (With backtracking, a header of a megabyte of
# spaces took minutes.)
_BARE = r"""(?:"[^"\n]*+"|'[^'\n]*+'|[A-Za-z0-9_\-]++)"""
_PATH = rf"{_BARE}(?:[ \t]*+\.[ \t]*+{_BARE})*+"
_HEADER = re.compile(rf"[ \t]*+\[(\[?)[ \t]*+({_PATH})[ \t]*+\]")
_HEADER_END = re.compile(r"[ \t\r]*+(?:#[^\n]*+)?")
_KEY = re.compile(rf"[ \t]*+({_PATH})[ \t]*+=")
# A dotted key or table name of more parts than can nest: tomllib joins a key's parts one
# tuple at a time (quadratic: a megabyte key of "a." ran for minutes), so it is refused first.
MAX_KEY_PARTS = MAX_DEPTH + 2
_DOT_PART = rf"{_BARE}[ \t]*+\.[ \t]*+"
_LONG_KEY = re.compile(  # where a key starts: a line, a header, an inline table
    rf"(?:^|[{{,\[])[ \t]*+(?:{_DOT_PART}){{{MAX_KEY_PARTS}}}", re.M)
_PART = re.compile(r""""([^"\n]*+)"|'([^'\n]*+)'|([A-Za-z0-9_\-]++)""")


def _split(dotted: str) -> tuple[str, ...]:
    """The parts of a dotted key matched by ``_PATH``: at most ``MAX_DEPTH + 2`` (a deeper key
    is refused anyway, and its line is its prefix's)."""
    return tuple(m.group(1) if m.group(1) is not None else
                 m.group(2) if m.group(2) is not None else m.group(3)
                 for m in islice(_PART.finditer(dotted), MAX_KEY_PARTS))


def _header(line: str) -> tuple[str, ...] | None:
    """The table named by a ``[table]`` or ``[[array]]`` header line, or None."""
    m = _HEADER.match(line)
    if m is None:
        return None
    end = m.end()
    if m.group(1):  # [[array]]
        if not line.startswith("]", end):
            return None
        end += 1
    if _HEADER_END.match(line, end).end() != len(line):  # type: ignore[union-attr]
        return None
    return _split(m.group(2))


def _key(line: str) -> tuple[tuple[str, ...], int] | None:
    """(dotted key, index after its ``=``) of a ``key = value`` line, or None."""
    m = _KEY.match(line)
    return None if m is None else (_split(m.group(1)), m.end())


class KeyLines(dict):
    """``key_lines`` output: key path -> line, and ``first``: every prefix of a key path ->
    the smallest line under it (so ``line_of`` is a lookup, not a scan of every key)."""

    first: dict[tuple[str, ...], int]


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map dotted key paths (tables and keys) to 1-based line numbers."""
    out = KeyLines()
    first: dict[tuple[str, ...], int] = {}
    out.first = first
    table: tuple[str, ...] = ()
    in_multiline: str | None = None
    depth = 0

    def note(key: tuple[str, ...], n: int) -> None:
        out.setdefault(key, n)
        for k in range(1, min(len(key), MAX_DEPTH + 2)):  # deeper keys are refused anyway
            first.setdefault(key[:k], n)  # lines only grow: the first one seen is the least

    for n, line in enumerate(text.split("\n"), start=1):  # TOML ends lines only at \n
        if in_multiline:
            if in_multiline in line:
                in_multiline = None
            continue
        if depth > 0:  # inside a multi-line array
            depth += line.count("[") - line.count("]")
            continue
        header = _header(line)
        if header is not None:
            table = header
            note(table, n)
            continue
        key = _key(line)
        if key:
            note(table + key[0], n)
            rest = line[key[1]:]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    in_multiline = quote
            if rest.strip().startswith("["):
                depth = rest.count("[") - rest.count("]")
    return out


def line_of(lines: dict[tuple[str, ...], int], key: tuple[str, ...]) -> int:
    """The line of ``key`` in ``key_lines`` output: its own, else its first child's (a table
    named only by dotted headers, ``[texture.a]`` names ``texture``), else its parent's."""
    first = getattr(lines, "first", None)
    while key:
        if key in lines:
            return lines[key]
        if first is not None:
            if key in first:
                return first[key]
        else:
            children = [n for k, n in lines.items() if k[:len(key)] == key]
            if children:
                return min(children)
        key = key[:-1]
    return 0


_STOP = re.compile(r"""[\n#"'\[\]{}]""")  # what unterminated_line looks at
_NON_SPACE = re.compile(r"[^ \t\r\n]")
# The rest of a string after its opening quote, up to its closing quote (possessive: linear).
_BODY = {'"': re.compile(r'(?:[^"\\\n]++|\\.)*+'), "'": re.compile(r"[^'\n]*+"),
         '"""': re.compile(r'(?:[^"\\]++|\\[\s\S]|"(?!""))*+'),
         "'''": re.compile(r"(?:[^']++|'(?!''))*+")}
_PLAIN = r"""[^\n#"'\[\]{}]*+"""  # characters unterminated_line passes over
# Runs handled in one step: one kind of bracket, or whole one-line strings, with ordinary
# characters between them (a megabyte of "[ [ [" or of '" "' is one match, not a loop).
_RUN = {c: re.compile(rf"(?:{re.escape(c)}{_PLAIN})++") for c in "[]{}"}
_STRINGS = {'"': re.compile(rf'(?:"(?!"")(?:[^"\\\n]++|\\.)*+"{_PLAIN})++'),
            "'": re.compile(rf"(?:'(?!'')[^'\n]*+'{_PLAIN})++"),
            '"""': re.compile(rf'(?:"""(?:[^"\\]++|\\[\s\S]|"(?!""))*+"""{_PLAIN})++'),
            "'''": re.compile(rf"(?:'''(?:[^']++|'(?!''))*+'''{_PLAIN})++")}


def unterminated_line(text: str) -> tuple[int, str]:
    """Where the construct still open at the end of ``text`` starts: (line, what it is).

    For TOML errors reported "at end of document". Falls back to the last line. Runs of
    ordinary characters, strings and runs of one bracket are each skipped in one step.
    """
    stack: list[list] = []  # [line, what, how many] of open brackets and strings
    line, i, n = 1, 0, len(text)
    blank = True  # nothing but spaces so far on this line
    while i < n:
        m = _STOP.search(text, i)
        j = n if m is None else m.start()
        if j > i:
            if blank and _NON_SPACE.search(text, i, j):
                blank = False
            i = j
            if i >= n:
                break
        c = text[i]
        was_blank, blank = blank, c == "\n"
        if c == "\n":
            line += 1
            if stack and stack[-1][1] in ("string", "table header"):
                stack.pop()  # closed by the newline (tomllib reports those with a line)
            i += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            run = _STRINGS[quote].match(text, i)
            if run is not None:  # closed strings (and what lies between them): skipped
                line += text.count("\n", i, run.end())
                i = run.end()
                continue
            body_end = _BODY[quote].match(text, i + len(quote)).end()  # type: ignore[union-attr]
            if text.startswith(quote, body_end):
                line += text.count("\n", i, body_end)
                i = body_end + len(quote)
            elif len(quote) == 3 or body_end >= n:
                return line, "multi-line string" if len(quote) == 3 else "string"
            else:
                i = body_end  # a one-line string closed by the newline: tomllib says where
        else:
            end = _RUN[c].match(text, i).end()  # type: ignore[union-attr]
            run, k = end - i, text.count(c, i, end)
            if c in "[{":
                header = c == "[" and was_blank and not stack
                if header:
                    stack.append([line, "table header", 1])
                    k -= 1
                what = "array" if c == "[" else "inline table"
                if k:
                    if stack and stack[-1][0] == line and stack[-1][1] == what:
                        stack[-1][2] += k
                    else:
                        stack.append([line, what, k])
            else:
                left = k
                while left and stack:
                    take = min(left, stack[-1][2])
                    stack[-1][2] -= take
                    left -= take
                    if not stack[-1][2]:
                        stack.pop()
            i += run
    if stack:
        return stack[0][0], stack[0][1]
    return max(line - (1 if text.endswith("\n") else 0), 1), ""


_DEEP_STOP = re.compile(r"""[\n"'\[\]{}]""")
_OPENERS = re.compile(r"""(?:[\[{][^\n"'\[\]{}]*+)++""")
_CLOSERS = re.compile(r"""(?:[\]}][^\n"'\[\]{}]*+)++""")
_QUOTED = {q: re.compile(rf"""(?:{q}[^{q}]*+{q}[^\n"'\[\]{{}}]*+)++""") for q in "\"'"}


def _deep_line(text: str, limit: int) -> int:
    """The line where arrays and inline tables first nest deeper than ``limit``."""
    depth, line, i = 0, 1, 0
    while True:
        m = _DEEP_STOP.search(text, i)
        if m is None:
            return 1
        i = m.start()
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in "\"'":
            m = _QUOTED[c].match(text, i)
            if m is None:  # never closed
                return 1
            line += text.count("\n", i, m.end())
            i = m.end()
        elif c in "[{":
            end = _OPENERS.match(text, i).end()  # type: ignore[union-attr]
            k = text.count("[", i, end) + text.count("{", i, end)
            if depth + k > limit:
                return line
            depth += k
            i = end
        else:
            end = _CLOSERS.match(text, i).end()  # type: ignore[union-attr]
            depth -= text.count("]", i, end) + text.count("}", i, end)
            i = end


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
    long_key = _LONG_KEY.search(text)
    if long_key is not None:
        raise UserError([Problem(Location(path, text.count("\n", 0, long_key.start()) + 1),
                                 None, f"a dotted key or table name of more than "
                                 f"{MAX_KEY_PARTS} parts (tables nest at most {MAX_DEPTH} "
                                 "deep)")])
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
