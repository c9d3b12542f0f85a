"""The build loop: plan → generate (plugins) → post-process → check → atomic write → record.

A library function the CLI, the watcher and the tests all call. Heavy imports happen only
inside generators, and only when something is actually stale.

Every output is also kept in the content-addressed object store (``objects.py``) before it is
written, so a stale job whose recipe was built before (a revert) is *restored* from the store
instead of generated, and a build killed between the write and its record recovers by restore.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .environment import environment
from .errors import PluginError, UserError
from .hashing import bytes_hash, canonical_json
from .interfaces import CheckResult, GenerationContext, Generator
from .manifest import load_specs
from .nodes import DerivedJob, GroupFileJob, StepJob, is_file_sourced
from .outputs import a1111_parameters, png_bytes, write_atomic
from .plan import JobPlan, Plan, make_plan, output_abspath
from .plugins import Plugins, load_plugins
from .project import Project, load_project
from .recorder import Recorder
from .results import AssetResult, BuildResult, asset_result, merge_results
from .steps import build_step, derived_png, file_image, run_step

if TYPE_CHECKING:
    from .executors import ExecutorSession, Rendered
    from .objects import ObjectStore

Progress = Callable[[int, int, str], None]
RESTORE_BATCH = 500  # restored rows per transaction: a kill re-restores at most this many
RESTORE_THREADS = 8  # restores are file I/O (read, write, fsync, rename): overlap the waits
REMOTE_FETCH = 200  # objects fetched from a remote store per round of concurrent requests


class ModelCache:
    """Loaded models by name: one load per model per build, kept across watch rebuilds.

    Keyed by content hash, the model table's options and the generation settings (device,
    dtype): reloading ``assetforge.toml`` keeps every model whose key did not change.
    """

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str, str], Any] = {}
        self.loads = 0  # how many times a model was loaded (tests and ``watch`` report it)

    def get(self, project: Project, name: str, gen: Generator, model_hash: str) -> Any:
        cfg = project.models[name]
        key = (name, model_hash, canonical_json([cfg.options, project.generation]))
        if key not in self._loaded:
            for old in [k for k in self._loaded if k[0] == name]:
                del self._loaded[old]  # the model (or how it loads) changed: drop the stale one
            self._loaded[key] = gen.load(cfg, project)
            self.loads += 1
        return self._loaded[key]


def _to_build(jp: JobPlan, force: bool) -> bool:
    if jp.status in ("up-to-date", "error", "stale"):  # stale: waits for an input
        return False
    return jp.status != "modified" or force  # never overwrite a hand edit unless asked


@contextmanager
def gc_paused(freeze: bool = False) -> Iterator[None]:
    """No cyclic garbage collection inside (planning: a few objects per asset, all alive until
    the plan is dropped; collecting them over and over cost a tenth of a 10,000-asset no-op).

    ``freeze``: then ``gc.freeze()`` what exists, so the collector never traverses it again
    (it is still freed by reference counting). Only for a process that ends soon after,
    like the CLI's ``build``: frozen cyclic garbage is never collected.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


@dataclass
class _Attempt:
    """What one render learned, kept even when it fails (for the record)."""

    device: str = "?"
    metrics: dict[str, Any] = field(default_factory=dict)


class Builder:
    """Runs builds for one project; keeps loaded models between builds (used by ``watch``)."""

    # Set by the CLI's one-shot commands (see gc_paused); never by long-lived users (watch).
    freeze_after_plan = False

    def __init__(self, project: Project, plugins: Plugins | None = None,
                 models: ModelCache | None = None, executor: str | None = None,
                 executor_options: dict[str, Any] | None = None):
        self.project = project
        self.plugins = plugins or load_plugins(project)
        self.models = models or ModelCache()
        self._store: Any = None
        # ``build --executor`` and its command-line options; None: ``[executor]`` or local
        self.executor, self.executor_options = executor, executor_options or {}
        self._inputs: frozenset[Path] | None = None  # of the last plan (watch)
        self._graph: Any = None
        self._objects: tuple[Any, Any] | None = None
        # Rendered outputs written but not yet recorded: committed in batches, each after one
        # sync of its files (in the background, while the next images are generated).
        self._recorder = Recorder(lambda: self.store)
        # (job id, output) -> its checked absolute path: resolved once per build (the check
        # before anything is written), then used by the render and the write.
        self._checked: dict[tuple[str, str], Path] = {}

    @property
    def objects(self) -> ObjectStore:
        """The output store: a local folder, or a remote one for a ``cache_dir`` URL."""
        from .stores import open_store  # not needed by a no-op build

        key = (self.project.cache_url, self.project.cache_dir)
        if self._objects is None or self._objects[0] != key:
            self._objects = (key, open_store(self.project))  # one per build, not per job
        return self._objects[1]

    def reload(self) -> None:
        """Re-read assetforge.toml and the plugins (``watch`` after a config or plugin edit).

        Raises ``UserError`` for a broken config and then changes nothing. Loaded models
        stay when their identity, options and the generation settings are unchanged.
        """
        project = load_project(self.project.root)
        project.cache_dir_override = self.project.cache_dir_override
        plugins = load_plugins(project)
        if project.database != self.project.database:
            self.close()
        self.project, self.plugins = project, plugins

    @property
    def store(self) -> Any:
        if self._store is None:
            from .db import Store

            self._store = Store(self.project.database)
        return self._store

    def plan(self, only: list[str] | None = None, force: bool = False, *,
             adopt: bool = True) -> Plan:
        """Plan a build. ``adopt``: record outputs that proved their recipe (fresh clone)."""
        from .plancache import PlanCache

        with gc_paused(freeze=self.freeze_after_plan):
            cache = PlanCache(self.project, self.plugins)
            specs = load_specs(self.project, self.plugins, cache)
            plan = make_plan(self.project, self.plugins, specs, only=only, force=force,
                             cache=cache)
            cache.save(cache.live)
        if self.project.config.get("policy"):  # licence policy: violations fail their jobs
            from .licenses import enforce_policy

            enforce_policy(self.project, self.plugins, plan)
        if plan.graph is not None:  # input_files() resolves them only if asked (watch)
            self._graph, self._inputs = plan.graph, None
        proven = [jp for jp in plan.jobs() if jp.embedded is not None]
        if adopt and proven:
            from .adopt import adopt as adopt_outputs

            adopt_outputs(self.project, self.store, proven)
        return plan

    def input_files(self) -> frozenset[Path]:
        """Files whose change can make a dependent stale (``watch`` watches them)."""
        if self._inputs is None:
            if self._graph is None:
                from .plan import Planner

                try:
                    planner = Planner(self.project, self.plugins)
                    self._graph = planner.prepare(load_specs(self.project, self.plugins))
                except (UserError, PluginError):
                    return frozenset()
            self._inputs = frozenset(self._graph.input_files(self.project.output_dir))
        return self._inputs

    def input_globs(self) -> frozenset[str]:
        """Globs that find inputs (an animation's ``poses``): a file added that matches one
        changes a plan (``watch`` watches for them)."""
        self.input_files()  # makes the graph when no plan did
        if self._graph is None:
            return frozenset()
        return frozenset(a.pattern for spec in self._graph.specs.values()
                         for a in (spec.animations or {}).values() if a.pattern)

    def check(self, only: list[str] | None = None) -> BuildResult:
        """CI mode: plan only; the result lists every stale asset and why."""
        plan = self.plan(only)
        return BuildResult(plan, [AssetResult(a.id, a.status, a.reason, a.outputs)
                                  for a in plan.assets], dry_run=True)

    def build(self, only: list[str] | None = None, *, force: bool = False,
              dry_run: bool = False, fail_fast: bool = False,
              progress: Progress | None = None, command: str = "build",
              should_stop: Callable[[], bool] | None = None) -> BuildResult:
        """Plan, then restore or generate every stale job; every failure is recorded.

        ``should_stop`` is polled between jobs (``watch`` uses it to stop early).
        """
        plan = self.plan(only, force)
        if dry_run:
            return BuildResult(plan, [AssetResult(a.id, a.status, a.reason, a.outputs)
                                      for a in plan.assets], dry_run=True)
        self._checked = {}
        done: dict[str, str | None] = {}  # job id → error (None when built or restored)
        restored: set[str] = set()
        reported: set[str] = set()  # plan errors already recorded
        results: dict[str, AssetResult] = {}
        stopped = halted = False
        build_id: int | None = None
        status, jobs = "interrupted", 0
        sessions = ExitStack()  # the executor starts when a round first generates something
        session = _LazySession(lambda: sessions.enter_context(self.executor_session()))
        try:
            # Rounds: a job waiting for an input ("stale") gets its recipe from a re-plan once
            # the input is final; each round runs only jobs not run before, so this ends.
            while True:
                todo = [jp for jp in plan.jobs() if jp.group is None
                        and jp.job.job_id not in done and _to_build(jp, force)]
                errors = [jp for jp in plan.jobs()
                          if jp.status == "error" and jp.job.job_id not in reported]
                if not todo and not errors:
                    break
                for jp in todo:  # a link out of output_dir: refused before anything is written
                    self.checked_output(jp)
                if build_id is None:
                    if any(not jp.restore_from for jp in todo):
                        self._choose_executor()  # a wrong name fails before anything is written
                    build_id = self.store.start_build(command)
                reported.update(jp.job.job_id for jp in errors)
                self._record_plan_errors(errors, build_id)
                stopped, halted = self._run_round(todo, build_id, done, restored, progress,
                                                  should_stop, fail_fast, session)
                jobs += len(todo)
                ran = {jp.job.job_id for jp in todo + errors}
                for a in plan.assets:
                    if any(jp.job.job_id in ran for jp in a.jobs):
                        results[a.id] = merge_results(results.get(a.id),
                                               asset_result(a, done, restored, force))
                if stopped or halted or not any(jp.status == "stale" for jp in plan.jobs()):
                    break
                plan = self.plan(only, force)
            status = "stopped" if stopped else "finished"
        finally:
            sessions.close()
            if build_id is not None:
                self.store.finish_build(build_id, status, {
                    "jobs": jobs, "restored": len(restored),
                    "failed": sum(1 for e in done.values() if e) + len(reported)})
        return BuildResult(plan, [results.get(a.id) or asset_result(a, done, restored, force)
                                  for a in plan.assets], stopped=stopped)

    def _run_round(self, todo: list[JobPlan], build_id: int, done: dict[str, str | None],
                   restored: set[str], progress: Progress | None,
                   should_stop: Callable[[], bool] | None, fail_fast: bool,
                   session: _LazySession) -> tuple[bool, bool]:
        """Restore, then build ``todo`` (independent jobs: their inputs are final): step-built
        assets here, everything else through the executor. Returns (stop requested, failed
        with fail_fast)."""
        restores = [jp for jp in todo if jp.restore_from and not isinstance(jp.job, StepJob)]
        if restores and progress:
            progress(0, len(todo), f"restoring {len(restores)} from the cache")
        gens = self._restore(restores, build_id, done, restored)
        gens += [jp for jp in todo if not jp.restore_from or isinstance(jp.job, StepJob)]
        start = len(todo) - len(gens)
        steps = [jp for jp in gens if isinstance(jp.job, StepJob)]
        renders = [jp for jp in gens if not isinstance(jp.job, StepJob)]
        if renders:
            before = sum(1 for e in done.values() if e)
            if self._execute(session.get(), renders, build_id, done, fail_fast, should_stop,
                             progress, start, len(todo)):
                return True, False
            if fail_fast and sum(1 for e in done.values() if e) > before:
                return False, True
        for i, jp in enumerate(steps, start + len(renders)):
            # Many-to-one steps read many files and write a group: the driver runs them.
            if should_stop is not None and should_stop():
                return True, False
            if progress:
                progress(i, len(todo), jp.job.job_id)
            done[jp.job.job_id] = build_step(self, jp, build_id, restored)
            if fail_fast and done[jp.job.job_id]:
                return False, True
        if progress:
            progress(len(todo), len(todo), "")
        return False, False

    # -- executors ---------------------------------------------------------------------------
    @contextmanager
    def executor_session(self) -> Iterator[ExecutorSession]:
        """The build's executor, started (only when something must be generated)."""
        from .batching import BatchingRender  # groups a batched model's jobs (local executor)

        executor, options = self._choose_executor()
        session = executor.start(self.project, options, BatchingRender(self))
        try:
            yield session
        finally:
            session.close()

    def _choose_executor(self) -> tuple[Any, dict[str, Any]]:
        from .executors import choose

        return choose(self.project, self.plugins, self.executor, self.executor_options)

    def _execute(self, session: ExecutorSession, jobs: list[JobPlan], build_id: int,
                 done: dict[str, str | None], fail_fast: bool,
                 should_stop: Callable[[], bool] | None, progress: Progress | None,
                 start: int, total: int) -> bool:
        """Hand independent ``jobs`` to the executor; keep, write and record each result as
        it arrives. Returns True when ``should_stop`` asked to stop."""
        if should_stop is not None and should_stop():
            return True
        by_id = {jp.job.job_id: jp for jp in jobs}
        if progress:
            progress(start, total, jobs[0].job.job_id)
        results = session.run(jobs)
        try:
            for n, rendered in enumerate(results, start + 1):
                jp = by_id.pop(rendered.job_id)  # a KeyError: an executor returned a job twice
                done[rendered.job_id] = self._record_rendered(jp, rendered, build_id)
                if progress:
                    progress(n, total, rendered.job_id)
                if fail_fast and done[rendered.job_id]:
                    break
                if should_stop is not None and should_stop() and by_id:
                    return True
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # cancels what is still running (a generator's finally)
            self._recorder.flush(wait=True)  # also when interrupted: finished outputs recorded
        return False

    # -- records -----------------------------------------------------------------------------
    def _row_fields(self, jp: JobPlan, build_id: int) -> dict[str, Any]:
        """A generation row's columns for ``jp``: everything the plan knows."""
        job, gen, model = jp.job, jp.generator, jp.model
        recipe = jp.recipe or {}
        versions = {p: i["version"] for p, i in recipe.get("plugins", {}).items()}
        if gen is not None:
            versions[gen.name] = gen.version
        return dict(
            build_id=build_id, asset_id=job.asset_id, job_id=job.job_id, kind=job.kind,
            view=job.view, recipe_hash=jp.key or "",
            recipe_json=json.dumps(jp.recipe, sort_keys=True),
            prompt=job.prompt, negative_prompt=job.negative_prompt, seed=job.seed,
            model_name=job.model, model_hash=model.hash if model else "",
            plugin_versions_json=json.dumps(versions, sort_keys=True),
            output_path=job.output,
            licenses_json=self._licenses_json(jp),
        )

    def _licenses_json(self, jp: JobPlan) -> str | None:
        """The licences of the weights that make ``jp`` (``weight_licenses`` hook)."""
        from .licenses import job_licenses

        try:
            found = job_licenses(self.project, self.plugins, jp.job)
        except (UserError, PluginError):
            return None  # the job fails on its own error; its licences stay unknown
        return json.dumps([lic.__dict__ for lic in found], sort_keys=True) if found else None

    def _row(self, jp: JobPlan, build_id: int) -> Any:
        from .db import Generation

        return Generation(**self._row_fields(jp, build_id))

    def _record_plan_errors(self, errors: list[JobPlan], build_id: int) -> None:
        """A plugin that failed while planning fails its asset; the failure is recorded too."""
        rows = []
        for jp in errors:
            row = self._row(jp, build_id)
            row.status, row.error, row.error_plugin = "failed", jp.reason, jp.error_plugin
            rows.append(row)
        self.store.add_all(rows)

    # -- restore -----------------------------------------------------------------------------
    def _restore(self, jobs: list[JobPlan], build_id: int, done: dict[str, str | None],
                 restored: set[str]) -> list[JobPlan]:
        """Write cached outputs for ``jobs``; return the jobs whose object proved unusable
        (vanished or damaged since planning): those are generated instead."""
        if not jobs:
            return []
        from concurrent.futures import ThreadPoolExecutor

        from .outputs import Written, sync_files
        from .records import origin_records

        objects = self.objects
        origins = origin_records(self.project.database,
                                 [jp.restore_from for jp in jobs if jp.restore_from])

        def put_back(jp: JobPlan, data: bytes | None = None
                     ) -> tuple[JobPlan, Written | None, float]:
            started = time.perf_counter()
            if not objects.remote:
                data = objects.get(jp.restore_from or "")  # re-hashed: never restores damage
            if data is None:
                return jp, None, 0.0
            # Made durable with the rest of its batch (one sync) before its record is committed.
            written = write_atomic(self.checked_output(jp), data, sync=False)
            return jp, written, time.perf_counter() - started

        def batches() -> Iterator[tuple[JobPlan, Written | None, float]]:
            with ThreadPoolExecutor(max_workers=RESTORE_THREADS) as pool:
                if not objects.remote:
                    yield from pool.map(put_back, jobs)
                    return
                # A remote store: one round of concurrent requests per chunk (never one per
                # job), the next chunk downloading while this one is written.
                chunks = [jobs[i:i + REMOTE_FETCH] for i in range(0, len(jobs), REMOTE_FETCH)]
                with ThreadPoolExecutor(max_workers=1) as fetcher:
                    def fetch(chunk: list[JobPlan]) -> Any:
                        return fetcher.submit(objects.get_many,
                                              [jp.restore_from or "" for jp in chunk])

                    ahead = fetch(chunks[0])
                    for k, chunk in enumerate(chunks):
                        fetched = ahead.result()  # re-hashed: damage comes back as None
                        if k + 1 < len(chunks):
                            ahead = fetch(chunks[k + 1])
                        yield from pool.map(lambda jp, f=fetched: put_back(
                            jp, f.get(jp.restore_from or "")), chunk)

        fallback: list[JobPlan] = []
        rows: list[dict[str, Any]] = []
        paths: list[Path] = []

        def commit() -> None:
            sync_files(paths)  # a record only for a file that is whole on disk
            self.store.insert_generations(rows)
            rows.clear()
            paths.clear()

        for jp, written, took in batches():
            if written is None:
                fallback.append(jp)
                continue
            paths.append(written.path)
            origin = origins.get(jp.restore_from or "")
            rows.append(self._row_fields(jp, build_id) | dict(
                status="restored", output_hash=written.hash, output_size=written.size,
                output_mtime_ns=written.mtime_ns, duration_s=took,
                # the environment of the generation that made these bytes
                device=origin[1] if origin else None,
                environment_json=origin[2] if origin else None,
                metrics_json=json.dumps({"restored_from": jp.restore_from,
                                         "origin_record": origin[0] if origin else None})))
            done[jp.job.job_id] = None
            restored.add(jp.job.job_id)
            if len(rows) >= RESTORE_BATCH:
                commit()
        commit()
        return fallback

    # -- one job -----------------------------------------------------------------------------
    def render(self, jp: JobPlan, attempt: _Attempt | None = None) -> bytes:
        """Generate, post-process and check one job; return the PNG bytes (nothing written).

        ``verify --regenerate`` calls this too. Raises ``UserError``/``PluginError`` for a
        failed check or plugin; any other exception is the generator's.
        """
        job, gen, model = jp.job, jp.generator, jp.model
        attempt = attempt if attempt is not None else _Attempt()
        if isinstance(job, DerivedJob):
            attempt.device = "none"
            return derived_png(jp, self.project)
        if isinstance(job, (StepJob, GroupFileJob)):  # verify --regenerate
            attempt.device = "none"
            files, _state = run_step(jp, self.project)
            return files.get(job.output) or next(iter(files.values()))
        assert jp.recipe is not None
        if is_file_sourced(job.spec):  # nothing generated: the file's pixels, then the steps
            attempt.device = "none"
            ctx = GenerationContext(self.project, job, jp.recipe, None, "file", "none",
                                    attempt.metrics)
            image = file_image(jp)
            parameters = f"file-sourced: {job.inputs['image'].ref}"
        else:
            assert gen is not None and model is not None
            try:
                loaded = self.models.get(self.project, job.model, gen, model.hash)
                attempt.device = gen.device_of(loaded)
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - a model that fails to load fails its jobs
                raise PluginError(gen.name, e) from e
            ctx = GenerationContext(self.project, job, jp.recipe, loaded, gen.name,
                                    attempt.device, attempt.metrics)
            image = self._generate(gen, loaded, ctx)
            parameters = a1111_parameters(job, model.hash, job.model)
        return self.finish(jp, image, ctx, parameters)

    def finish(self, jp: JobPlan, image: Any, ctx: GenerationContext, parameters: str) -> bytes:
        """Post-process and check a generated image; its PNG bytes (``render`` and batches)."""
        image = self._postprocess(image, ctx)
        failed = [c for c in self._checks(image, ctx) if not c.passed and c.severity != "warn"]
        if failed:
            raise UserError("; ".join(f"quality check {c.name} failed: {c.message}"
                                      for c in failed))
        return png_bytes(image, parameters, jp.recipe, jp.key or "")

    def _keep(self, jp: JobPlan, data: bytes, metrics: dict[str, Any],
              digest: str | None = None) -> None:
        """Put an output in the object store (with its recipe ref) before it is written.

        A store that cannot be written (a read-only share, a full disk) does not fail the
        asset: the output is still written and the problem noted in the record.
        """
        try:
            objects = self.objects
            digest = objects.put(data, digest)
            if jp.key:
                objects.set_ref(jp.key, digest)
        except OSError as e:
            metrics["object_store_error"] = f"{type(e).__name__}: {e}"

    def checked_output(self, jp: JobPlan) -> Path:
        """``output_abspath`` of ``jp`` (raises for an output that leads out of the project),
        resolved once per build (``realpath`` is a system call per folder of the path)."""
        key = (jp.job.job_id, jp.job.output)
        path = self._checked.get(key)
        if path is None:
            path = self._checked[key] = output_abspath(self.project, jp.job)
        return path

    def render_result(self, jp: JobPlan) -> Rendered:
        """Render one job (nothing written): what every executor returns per job."""
        from .executors import Rendered

        gen = jp.generator  # None for file-sourced and derived jobs
        started = time.perf_counter()
        attempt = _Attempt()
        data, error, plugin = None, None, None
        try:
            self.checked_output(jp)  # an output outside the project fails first
            data = self.render(jp, attempt)
        except (UserError, PluginError) as e:
            error, plugin = str(e), getattr(e, "plugin", None)
        except Exception as e:  # noqa: BLE001 - the generator itself raised
            error, plugin = f"{type(e).__name__}: {e}", gen.name if gen is not None else None
        return Rendered(jp.job.job_id, data, error, plugin, attempt.metrics, attempt.device,
                        time.perf_counter() - started, environment(attempt.device))

    def _record_rendered(self, jp: JobPlan, rendered: Rendered, build_id: int) -> str | None:
        """Keep, write and record one rendered job. Returns an error message or None."""
        started = time.perf_counter()
        row = self._row_fields(jp, build_id)
        # every row of a batch has the same columns (one executemany)
        row.update(output_hash=None, output_size=None, output_mtime_ns=None, error=None,
                   error_plugin=None)
        error = rendered.error
        path = None
        if rendered.data is not None:
            try:
                path = self.checked_output(jp)
                digest = bytes_hash(rendered.data)  # once: for the store and the record
                self._keep(jp, rendered.data, rendered.metrics, digest)
                # Renamed into place whole (a kill leaves the old file or this one); made
                # durable with the rest of its batch before its record is committed.
                written = write_atomic(path, rendered.data, digest, sync=False)
                row.update(status="ok", output_hash=written.hash, output_size=written.size,
                           output_mtime_ns=written.mtime_ns)
            except UserError as e:
                error, path = str(e), None
        if error is not None:
            row.update(status="failed", error=error, error_plugin=rendered.error_plugin)
        row.update(duration_s=rendered.duration_s + (time.perf_counter() - started),
                   device=rendered.device,
                   environment_json=json.dumps(rendered.environment, sort_keys=True),
                   metrics_json=(json.dumps(rendered.metrics, sort_keys=True)
                                 if rendered.metrics else None))
        self._recorder.add(path, row)  # recorded once the file is durable (recorder.py)
        return error

    def enter_generation_contexts(self, stack: ExitStack, ctx: GenerationContext) -> None:
        """Enter every plugin's generation context for ``ctx`` on ``stack`` (a plugin that
        fails to enter is a PluginError naming it)."""
        for name, cm in self.plugins.generation_contexts(ctx):
            try:
                stack.enter_context(cm)
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001
                raise PluginError(name, e) from e

    def _generate(self, gen: Generator, loaded: Any, ctx: GenerationContext) -> Any:
        with ExitStack() as stack:
            self.enter_generation_contexts(stack, ctx)
            try:
                return gen.generate(loaded, ctx.job, ctx)
            except (UserError, PluginError):
                raise
            except Exception as e:  # noqa: BLE001
                raise PluginError(gen.name, e) from e

    def _postprocess(self, image: Any, ctx: GenerationContext) -> Any:
        for step in self.plugins.postprocessors():
            if not step.applies(ctx.job):
                continue
            try:
                image = step.process(image, ctx)
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001
                raise PluginError(step.name, e) from e
        return image

    def _checks(self, image: Any, ctx: GenerationContext) -> list[CheckResult]:
        results = [r for _n, rs in self.plugins.call_each("quality_checks", image=image, ctx=ctx)
                   for r in rs]
        ctx.metrics["checks"] = {r.name: {"passed": r.passed, "value": r.value,
                                          "message": r.message, "severity": r.severity}
                                 for r in results}
        if not results:
            del ctx.metrics["checks"]
        return results

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class _LazySession:
    """The build's executor session, started on first use (a build that only restores or
    runs steps never starts one)."""

    def __init__(self, start: Callable[[], ExecutorSession]):
        self._start = start
        self._session: ExecutorSession | None = None

    def get(self) -> ExecutorSession:
        if self._session is None:
            self._session = self._start()
        return self._session


def build(project: Project, plugins: Plugins | None = None, **kwargs: Any) -> BuildResult:
    """Build ``project`` once. Keyword arguments as for ``Builder.build``."""
    builder = Builder(project, plugins)
    try:
        return builder.build(**kwargs)
    finally:
        builder.close()
