"""Executors: where stale jobs are rendered. The built-in ``local`` one renders in this process.

The engine (the *driver*) hands an executor session a batch of independent jobs and receives a
``Rendered`` per job as each finishes: PNG bytes or an error, plus metrics, device, time and
environment. The driver alone writes outputs, fills the object store and writes records, so
SQLite keeps one writer however many machines render. Other executors (``plugins/ray``)
register through the ``register_executors`` hook and are chosen by ``[executor] name`` in
assetforge.toml or ``build --executor NAME``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import Problem, UserError
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .plan import JobPlan
    from .plugins import Plugins
    from .project import Project

DEFAULT = "local"


@dataclass
class Rendered:
    """One job's result, as an executor returns it to the driver."""

    job_id: str
    data: bytes | None  # the finished PNG (recipe chunk included); None when it failed
    error: str | None = None
    error_plugin: str | None = None  # the plugin that failed, for the record
    metrics: dict[str, Any] = field(default_factory=dict)
    device: str = "?"
    duration_s: float = 0.0  # render time on the worker
    environment: dict[str, Any] = field(default_factory=dict)  # the worker's, for the record


Render = Callable[["JobPlan"], Rendered]


class ExecutorSession(Protocol):
    """A started executor; one per build, used for every batch of the build."""

    def run(self, jobs: list[JobPlan]) -> Iterator[Rendered]:
        """Render ``jobs`` (independent of each other) and yield one ``Rendered`` per job as
        each finishes, in any order. When the caller stops iterating (``--fail-fast``, a stop
        request, Ctrl-C), work not yet returned is cancelled."""

    def close(self) -> None:
        """Release workers; called once at the end of the build, also after an error."""


class Executor(Protocol):
    """Registered through ``register_executors``; cheap to create (no heavy imports)."""

    name: str

    def start(self, project: Project, options: dict[str, Any],
              render: Render) -> ExecutorSession:
        """Start workers for a build. ``options``: the ``[executor]`` table without ``name``
        plus command-line overrides; ``render``: renders one job in this process (what the
        local executor calls; a remote worker uses ``WorkerRenderer`` instead)."""


class LocalExecutor:
    """Today's loop: one job after another, in this process."""

    name = DEFAULT

    def start(self, project: Project, options: dict[str, Any],
              render: Render) -> ExecutorSession:
        if options:
            raise UserError(f"executor 'local' takes no options (got {', '.join(options)})")
        return _LocalSession(render)


class _LocalSession:
    def __init__(self, render: Render):
        self.render = render

    def run(self, jobs: list[JobPlan]) -> Iterator[Rendered]:
        batch = getattr(self.render, "batch", None)  # the engine's BatchingRender
        if batch is not None:
            yield from batch(jobs)
            return
        for jp in jobs:
            yield self.render(jp)

    def close(self) -> None:
        pass


def executors(plugins: Plugins) -> dict[str, Executor]:
    """Every executor by name: ``local`` plus those plugins register."""
    found: dict[str, Executor] = {DEFAULT: LocalExecutor()}
    for _plugin, registered in plugins.call_each("register_executors"):
        for ex in registered:
            found.setdefault(ex.name, ex)
    return found


def choose(project: Project, plugins: Plugins, name: str | None = None,
           overrides: dict[str, Any] | None = None) -> tuple[Executor, dict[str, Any]]:
    """The executor to use and its options: ``name`` (``--executor``) wins over
    ``[executor] name``; ``overrides`` (command-line options) over the table's keys."""
    table = dict(project.config.get("executor", {}))
    configured = table.pop("name", DEFAULT)
    chosen = name or configured
    if chosen != configured:
        table = {}  # the table configures another executor
    table.update(overrides or {})
    available = executors(plugins)
    if chosen not in available:
        msg = (f"unknown executor {chosen!r}" + did_you_mean(chosen, available)
               + f"; available: {', '.join(sorted(available))}")
        if name:
            raise UserError(msg)
        raise UserError([Problem(project.where("executor", "name"), "executor.name", msg)])
    return available[chosen], table


def portable(jp: JobPlan) -> JobPlan:
    """``jp`` without what only the driver needs or can hold (its record, the generator
    object): what a remote executor ships to a worker."""
    return dataclasses.replace(jp, generator=None, last=None, embedded=None)
