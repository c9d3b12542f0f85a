"""User-facing errors: reported as ``file:line: key: message``, never as a traceback."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where a value came from, for error messages: ``file:line``."""

    file: Path
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else str(self.file)


@dataclass(frozen=True)
class Problem:
    location: Location | None
    key: str | None
    message: str

    def __str__(self) -> str:
        parts = [str(self.location)] if self.location else []
        if self.key:
            parts.append(self.key)
        parts.append(self.message)
        return ": ".join(parts)


class UserError(Exception):
    """A mistake in the user's input; the CLI prints it and exits with code 2."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(None, None, problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PluginError(Exception):
    """A plugin raised while working on one asset; fails that asset only."""

    def __init__(self, plugin: str, error: BaseException):
        self.plugin = plugin
        self.error = error
        super().__init__(f"plugin {plugin!r}: {type(error).__name__}: {error}")


def toml_problem(path: Path, e: tomllib.TOMLDecodeError, text: str | None = None) -> Problem:
    """``file:line: invalid TOML: …`` for a parse error. An error "at end of document" (an
    unterminated string, array or table header) is placed where that construct started."""
    # Python 3.11's TOMLDecodeError carries the position only in its message.
    msg = str(e)
    m = re.search(r" \(at line (\d+), column (\d+)\)", msg)
    line = int(m.group(1)) if m else 0
    msg = msg[:m.start()] if m else msg
    if not m and msg.endswith(" (at end of document)"):
        from .tomlpos import unterminated_line

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
