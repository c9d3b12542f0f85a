"""The build loop: plan → generate (plugins) → post-process → check → atomic write → record.

A library function the CLI, the watcher and the tests all call. Heavy imports happen only
inside generators, and only when something is actually stale.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from .errors import PluginError, UserError
from .interfaces import CheckResult, GenerationContext, Generator
from .manifest import load_specs
from .outputs import a1111_parameters, png_bytes, write_atomic
from .plan import AssetPlan, JobPlan, Plan, make_plan, output_abspath
from .plugins import Plugins, load_plugins
from .project import Project

Progress = Callable[[int, int, str], None]


@dataclass
class AssetResult:
    id: str
    status: str  # built | up-to-date | failed | skipped | (a plan status on --dry-run)
    reason: str
    outputs: list[str]
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "status": self.status, "reason": self.reason,
                             "outputs": self.outputs}
        if self.errors:
            d["errors"] = self.errors
        return d


@dataclass
class BuildResult:
    plan: Plan
    assets: list[AssetResult]
    dry_run: bool = False

    def summary(self) -> dict[str, int]:
        s = {"built": 0, "up_to_date": 0, "failed": 0, "skipped": 0}
        for a in self.assets:
            key = {"built": "built", "up-to-date": "up_to_date", "failed": "failed",
                   "error": "failed"}.get(a.status, "skipped" if not self.dry_run else None)
            if key:
                s[key] += 1
        return s

    @property
    def failed(self) -> bool:
        return any(a.status in ("failed", "error") for a in self.assets)

    def as_dict(self) -> dict[str, Any]:
        return {"assets": [a.as_dict() for a in self.assets], "summary": self.summary()}


class ModelCache:
    """Loaded models by name: one load per model per build, kept across watch rebuilds."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str], Any] = {}

    def get(self, project: Project, name: str, gen: Generator, model_hash: str) -> Any:
        key = (name, model_hash)
        if key not in self._loaded:
            for old in [k for k in self._loaded if k[0] == name]:
                del self._loaded[old]  # the model changed on disk: drop the stale one
            self._loaded[key] = gen.load(project.models[name], project)
        return self._loaded[key]


def environment(device: str) -> dict[str, Any]:
    """What can differ between machines without changing the recipe: recorded, not hashed."""
    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                           "host": platform.node(), "device": device}
    for dist in ("assetforge", "torch", "diffusers", "transformers", "peft", "spandrel"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return env


def _to_build(jp: JobPlan, force: bool) -> bool:
    if jp.status in ("up-to-date", "error"):
        return False
    return jp.status != "modified" or force  # never overwrite a hand edit unless asked


class Builder:
    """Runs builds for one project; keeps loaded models between builds (used by ``watch``)."""

    def __init__(self, project: Project, plugins: Plugins | None = None):
        self.project = project
        self.plugins = plugins or load_plugins(project)
        self.models = ModelCache()
        self._store: Any = None

    @property
    def store(self) -> Any:
        if self._store is None:
            from .db import Store

            self._store = Store(self.project.database)
        return self._store

    def plan(self, only: list[str] | None = None, force: bool = False) -> Plan:
        specs = load_specs(self.project, self.plugins)
        return make_plan(self.project, self.plugins, specs, only=only, force=force)

    def build(self, only: list[str] | None = None, *, force: bool = False,
              dry_run: bool = False, fail_fast: bool = False,
              progress: Progress | None = None, command: str = "build") -> BuildResult:
        plan = self.plan(only, force)
        if dry_run:
            return BuildResult(plan, [AssetResult(a.id, a.status, a.reason, a.outputs)
                                      for a in plan.assets], dry_run=True)
        todo = [jp for jp in plan.jobs() if _to_build(jp, force)]
        done: dict[str, str | None] = {}  # job id → error (None when built)
        if todo:
            build_id = self.store.start_build(command)
            status = "interrupted"
            try:
                for i, jp in enumerate(todo):
                    if progress:
                        progress(i, len(todo), jp.job.job_id)
                    done[jp.job.job_id] = self._run_job(jp, build_id)
                    if fail_fast and done[jp.job.job_id]:
                        break
                if progress:
                    progress(len(todo), len(todo), "")
                status = "finished"
            finally:
                self.store.finish_build(build_id, status, {
                    "jobs": len(todo), "failed": sum(1 for e in done.values() if e)})
        return BuildResult(plan, [_asset_result(a, done, force) for a in plan.assets])

    # -- one job -----------------------------------------------------------------------------
    def _run_job(self, jp: JobPlan, build_id: int) -> str | None:
        """Generate, check, write and record one job. Returns an error message or None."""
        from .db import Generation

        job, gen, model = jp.job, jp.generator, jp.model
        assert gen is not None and model is not None and jp.recipe is not None
        started = time.perf_counter()
        device = "?"
        metrics: dict[str, Any] = {}
        row = Generation(
            build_id=build_id, asset_id=job.asset_id, job_id=job.job_id, kind=job.kind,
            view=job.view, recipe_hash=jp.key, recipe_json=json.dumps(jp.recipe, sort_keys=True),
            prompt=job.prompt, negative_prompt=job.negative_prompt, seed=job.seed,
            model_name=job.model, model_hash=model.hash,
            plugin_versions_json=json.dumps({p: i["version"] for p, i in
                                             jp.recipe["plugins"].items()}
                                            | {gen.name: gen.version}, sort_keys=True),
            output_path=job.output,
        )
        try:
            try:
                loaded = self.models.get(self.project, job.model, gen, model.hash)
                device = gen.device_of(loaded)
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - a model that fails to load fails its jobs
                raise PluginError(gen.name, e) from e
            ctx = GenerationContext(self.project, job, jp.recipe, loaded, gen.name, device, metrics)
            image = self._generate(gen, loaded, ctx)
            image = self._postprocess(image, ctx)
            failed = [c for c in self._checks(image, ctx) if not c.passed]
            if failed:
                raise UserError("; ".join(f"quality check {c.name} failed: {c.message}"
                                          for c in failed))
            path = output_abspath(self.project, job)
            data = png_bytes(image, a1111_parameters(job, model.hash, job.model), jp.recipe,
                             jp.key or "")
            written = write_atomic(path, data)
            row.status = "ok"
            row.output_hash, row.output_size = written.hash, written.size
            row.output_mtime_ns = written.mtime_ns
            error = None
        except (UserError, PluginError) as e:
            row.status, row.error = "failed", str(e)
            row.error_plugin = getattr(e, "plugin", None)
            error = str(e)
        except Exception as e:  # noqa: BLE001 - the generator itself raised
            row.status, row.error, row.error_plugin = "failed", f"{type(e).__name__}: {e}", gen.name
            error = row.error
        row.duration_s = time.perf_counter() - started
        row.device = device
        row.environment_json = json.dumps(environment(device), sort_keys=True)
        row.metrics_json = json.dumps(metrics, sort_keys=True) if metrics else None
        self.store.add(row)
        return error

    def _generate(self, gen: Generator, loaded: Any, ctx: GenerationContext) -> Any:
        with ExitStack() as stack:
            for name, cm in self.plugins.generation_contexts(ctx):
                try:
                    stack.enter_context(cm)
                except UserError:
                    raise
                except Exception as e:  # noqa: BLE001
                    raise PluginError(name, e) from e
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
                                          "message": r.message} for r in results}
        if not results:
            del ctx.metrics["checks"]
        return results

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _asset_result(a: AssetPlan, done: dict[str, str | None], force: bool) -> AssetResult:
    errors = [f"{jp.job.job_id}: {done[jp.job.job_id]}" for jp in a.jobs
              if done.get(jp.job.job_id)]
    errors += [f"{jp.job.job_id}: {jp.reason}" for jp in a.jobs if jp.status == "error"]
    if errors:
        return AssetResult(a.id, "failed", a.reason, a.outputs, errors)
    if any(jp.job.job_id in done for jp in a.jobs):
        return AssetResult(a.id, "built", a.reason, a.outputs)
    if a.status == "up-to-date":
        return AssetResult(a.id, "up-to-date", "", a.outputs)
    if a.status == "modified" and not force:
        return AssetResult(a.id, "skipped", a.reason + " (kept; --force regenerates it)",
                           a.outputs)
    return AssetResult(a.id, "skipped", a.reason, a.outputs)  # not reached: --fail-fast stop


def build(project: Project, plugins: Plugins | None = None, **kwargs: Any) -> BuildResult:
    """Build ``project`` once. Keyword arguments as for ``Builder.build``."""
    builder = Builder(project, plugins)
    try:
        return builder.build(**kwargs)
    finally:
        builder.close()
