"""The ``ray`` executor: a pool of Ray actors renders jobs; the build's process records them.

Each actor is a ``WorkerRenderer``: it loads the project and its plugins once and keeps every
model it loaded warm, so jobs are grouped by model and style and an actor stays on its group
while the group has work. An actor runs the generator, the generation contexts,
post-processing and checks, and returns PNG bytes plus metrics; the driver (the build) writes
outputs, fills the cache and records. A job whose actor died is retried on another (a fresh
actor replaces the dead one); a job is recorded only from the one result that came back.

Ray is imported in ``RayExecutor.start`` only: planning and no-op builds never pay for it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from typing import Any

from assetforge.api import Rendered, UserError, WorkerRenderer, portable

OPTIONS = {
    "address": (str, "a Ray cluster: auto, ray://host:port (default: a local Ray for the build)"),
    "actors": (int, "actors in the pool (default: one per GPU, or 2 CPU actors)"),
    "gpus_per_actor": ((int, float), "GPUs each actor holds (default 1 on a GPU cluster)"),
    "cpus_per_actor": ((int, float), "CPUs each actor holds (default 1)"),
    "retries": (int, "times a job is retried after its worker died (default 2)"),
}
IN_FLIGHT = 2  # jobs queued per actor: the next one is ready when the current one returns
FORWARDED_ENV = ("ASSETFORGE_", "HF_", "TRANSFORMERS_", "DIFFUSERS_")


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    problems = []
    for key, value in options.items():
        if key not in OPTIONS:
            problems.append(f"executor option {key!r} is unknown to the ray executor "
                            f"(known: {', '.join(OPTIONS)})")
        elif value is not None and (not isinstance(value, OPTIONS[key][0])
                                    or isinstance(value, bool)):
            problems.append(f"executor option {key!r}: {OPTIONS[key][1]}")
        elif key in ("actors",) and value is not None and value < 1:
            problems.append("executor option 'actors' must be at least 1")
    if problems:
        raise UserError(problems)
    return options


class RenderWorker:
    """The actor: renders jobs of one project, models kept loaded between jobs."""

    def __init__(self, project_root: str, env: dict[str, str]):
        os.environ.update(env)
        self.renderer = WorkerRenderer(project_root)

    def pid(self) -> int:
        return os.getpid()

    def render(self, jp: Any) -> tuple[Rendered, int]:
        """The job's result and how many models this actor has loaded so far."""
        return self.renderer(jp), self.renderer.model_loads


def _failed(jp: Any, err: Exception, what: str = "") -> Rendered:
    """A failed job's result; the error's last line names the cause (a worker's traceback)."""
    last = str(err).strip().splitlines()[-1:] or [""]
    return Rendered(jp.job.job_id, None, f"ray: {what + ': ' if what else ''}"
                    f"{type(err).__name__}: {last[0]}", "ray")


class RayExecutor:
    name = "ray"

    def start(self, project: Any, options: dict[str, Any], render: Any) -> RaySession:
        return RaySession(project, check_options(dict(options)))


def group_of(jp: Any) -> tuple[str, str]:
    """Jobs that share a loaded model and style pack: an actor keeps them warm together."""
    fields = jp.job.spec.fields
    return jp.job.model, repr(fields.get("style") or fields.get("lora") or "")


class RaySession:
    """One build's actors. ``run`` schedules a batch; ``close`` kills the actors."""

    def __init__(self, project: Any, options: dict[str, Any]):
        try:
            import ray  # only when something is generated
        except ImportError:
            raise UserError("the ray executor needs Ray: pip install 'assetforge-ray[ray]'"
                            ) from None
        self.ray = ray
        self.project = project
        self.started_ray = False
        if not ray.is_initialized():
            address = options.get("address")
            if not address:
                # A private single-machine instance: no login, no dashboard, no network.
                os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            try:
                ray.init(address=address or None, include_dashboard=False,
                         log_to_driver=False, logging_level="WARNING", configure_logging=True)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise UserError(f"cannot start or reach Ray at {address or 'a local instance'}"
                                f": {e}") from None
            self.started_ray = True
        gpus = ray.cluster_resources().get("GPU", 0)
        default_gpus = 1 if gpus else 0
        self.gpus = float(options.get("gpus_per_actor", default_gpus))
        self.cpus = float(options.get("cpus_per_actor", 1))
        self.size = int(options.get("actors") or (int(gpus // self.gpus) if self.gpus else 2))
        self.retries = int(options.get("retries", 2))
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
        self.actor_class = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus,
                                      max_restarts=0)(RenderWorker)
        self.env = env
        self.actors: list[Any] = []
        self.warm: dict[int, tuple[str, str] | None] = {}  # actor id → group it works on
        self.model_loads: dict[int, int] = {}  # actor id → models it loaded
        self.pids: dict[int, int] = {}
        self.replaced = 0

    # -- the pool ----------------------------------------------------------------------------
    def _spawn(self) -> Any:
        actor = self.actor_class.remote(str(self.project.root), self.env)
        self.actors.append(actor)
        self.warm[id(actor)] = None
        return actor

    def worker_pids(self) -> list[int]:
        """The live actors' process ids (tests kill one)."""
        return self.ray.get([a.pid.remote() for a in self.actors])

    # -- scheduling --------------------------------------------------------------------------
    def run(self, jobs: list[Any]) -> Iterator[Rendered]:
        ray = self.ray
        from ray.exceptions import RayActorError, RayError, WorkerCrashedError

        while len(self.actors) < min(self.size, len(jobs)):
            self._spawn()
        queues: dict[tuple[str, str], deque[Any]] = {}
        for jp in jobs:
            queues.setdefault(group_of(jp), deque()).append(portable(jp))
        attempts: dict[str, int] = {}
        in_flight: dict[Any, tuple[Any, Any]] = {}  # object ref → (actor, job)

        def take(actor: Any) -> Any | None:
            group = self.warm.get(id(actor))
            if group not in queues or not queues[group]:
                busy = {self.warm.get(id(a)) for a in self.actors if a is not actor}
                open_groups = [g for g, q in queues.items() if q]
                if not open_groups:
                    return None
                # a group nobody works on first, then the one with the most work left
                group = max(open_groups, key=lambda g: (g not in busy, len(queues[g])))
                self.warm[id(actor)] = group
            return queues[group].popleft()

        def feed(actor: Any) -> None:
            while sum(1 for a, _ in in_flight.values() if a is actor) < IN_FLIGHT:
                jp = take(actor)
                if jp is None:
                    return
                in_flight[actor.render.remote(jp)] = (actor, jp)

        try:
            for actor in list(self.actors):
                feed(actor)
            while in_flight:
                [ref], _ = ray.wait(list(in_flight), num_returns=1)
                actor, jp = in_flight.pop(ref)
                try:
                    rendered, loads = ray.get(ref)
                except (RayActorError, WorkerCrashedError) as e:
                    yield from self._retry(actor, jp, attempts, queues, e)
                    if not self.actors:  # no worker can start: fail what is left, clearly
                        for q in queues.values():
                            while q:
                                yield _failed(q.popleft(), e)
                    for a in list(self.actors):
                        feed(a)
                    continue
                except RayError as e:  # the job itself could not run or return
                    yield _failed(jp, e)
                    feed(actor)
                    continue
                self.model_loads[id(actor)] = loads
                yield rendered
                feed(actor)
        finally:
            if in_flight:  # stopped early (fail-fast, Ctrl-C): cancel the remote work
                for ref in in_flight:
                    ray.cancel(ref)
                self._kill_all()

    def _retry(self, actor: Any, jp: Any, attempts: dict[str, int],
               queues: dict[tuple[str, str], deque[Any]], err: Exception) -> Iterator[Rendered]:
        """``actor`` died with ``jp`` on it: replace the actor, queue the job again (or fail
        it after ``retries`` deaths)."""
        if actor in self.actors:
            self.actors.remove(actor)
            self.warm.pop(id(actor), None)
            if self.replaced < self.size * (self.retries + 1):  # not forever: a broken
                self._spawn()                                   # image fails every actor
                self.replaced += 1
        job_id = jp.job.job_id
        attempts[job_id] = attempts.get(job_id, 0) + 1
        if attempts[job_id] > self.retries:
            yield _failed(jp, err, f"worker died {attempts[job_id]} times rendering it")
            return
        queues.setdefault(group_of(jp), deque()).appendleft(jp)

    def _kill_all(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001, S110 - already dead
                pass
        self.actors.clear()
        self.warm.clear()

    def close(self) -> None:
        self._kill_all()
        if self.started_ray:
            self.ray.shutdown()
