"""User-facing errors: reported as ``file:line: key: message``, never as a traceback."""

from __future__ import annotations

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
