"""Seed candidates: ``candidates = N`` on an asset renders N more seeds to choose from.

A separate pass after the build (``render_candidates``), so the build loop is untouched: for
each job of such an asset and each K in 1…N, the job with seed ``candidate_seed(id, salt, K)``
gets its recipe exactly as the planner would make it with that seed written in the manifest
(the same ``recipe_parts`` hooks, the same ``make_recipe``). Its PNG goes into the object
store under that recipe's ref and is recorded with status ``candidate`` and job id
``JOB~candidateK``; it is never written as the asset's output. ``assetforge pick ID K`` writes
the seed into the manifest, so the next build finds the recipe's output in the store and
restores it without generating. Candidates already in the store are not rendered again.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import TYPE_CHECKING, Any

from .errors import PluginError, UserError
from .hashing import bytes_hash
from .recipe import derive_seed, make_recipe, recipe_hash

if TYPE_CHECKING:
    from .engine import Builder, Progress
    from .interfaces import RecipePart
    from .plan import JobPlan, Plan

MAX_CANDIDATES = 64
_JOB_RE = re.compile(r"(?P<job>.+)~candidate(?P<k>[0-9]+)")


def candidate_job_id(job_id: str, index: int) -> str:
    return f"{job_id}~candidate{index}"


def parse_job_id(job_id: str) -> tuple[str, int] | None:
    m = _JOB_RE.fullmatch(job_id)
    return (m["job"], int(m["k"])) if m else None


def candidate_seed(asset_id: str, salt: str, index: int) -> int:
    """Candidate K's seed: derived like an asset's seed, from the id, K and the salt."""
    return derive_seed(f"{asset_id}~candidate{index}", salt)


def check_count(value: Any) -> str | None:
    """The ``candidates`` manifest key's check."""
    return None if 1 <= value <= MAX_CANDIDATES else f"must be between 1 and {MAX_CANDIDATES}"


def candidate_plans(builder: Builder, plan: Plan) -> list[tuple[JobPlan, int]]:
    """A JobPlan per candidate not yet in the object store, with its index."""
    from .plan import JobPlan

    project, plugins = builder.project, builder.plugins
    store = None
    out = []
    for a in plan.assets:
        count = a.spec.get("candidates")
        if not count:
            continue
        if store is None:
            store = builder.objects
        for jp in a.jobs:
            if jp.status == "error" or jp.generator is None or jp.model is None:
                continue
            for k in range(1, int(count) + 1):
                job = dataclasses.replace(jp.job, seed=candidate_seed(a.id, project.seed_salt,
                                                                      k))
                try:
                    parts: list[RecipePart] = []
                    for _n, res in plugins.call_each("recipe_parts", job=job, project=project):
                        parts.extend(res if isinstance(res, list) else [res])
                except PluginError:
                    continue  # the asset itself fails with this error; no candidates
                recipe = make_recipe(job, jp.model, jp.generator, parts)
                key = recipe_hash(recipe)
                digest = store.ref(key)
                if digest is not None and store.has(digest):
                    continue
                out.append((JobPlan(job, "new", f"candidate {k}", recipe, key, model=jp.model,
                                    generator=jp.generator), k))
    return out


def render_candidates(builder: Builder, plan: Plan,
                      progress: Progress | None = None) -> tuple[int, list[str]]:
    """Render and record the candidates of ``plan`` not yet cached: (rendered, errors)."""
    todo = candidate_plans(builder, plan)
    if not todo:
        return 0, []
    from .engine import _Attempt
    from .environment import environment

    build_id = builder.store.start_build("candidates")
    errors: list[str] = []
    rendered = 0
    try:
        for i, (jp, k) in enumerate(todo):
            if progress:
                progress(i, len(todo), candidate_job_id(jp.job.job_id, k))
            attempt = _Attempt()
            started = time.perf_counter()
            try:
                data = builder.render(jp, attempt)
            except (UserError, PluginError) as e:
                errors.append(f"{candidate_job_id(jp.job.job_id, k)}: {e}")
                continue
            builder._keep(jp, data, attempt.metrics)
            row = builder._row_fields(jp, build_id) | dict(
                job_id=candidate_job_id(jp.job.job_id, k), status="candidate",
                output_path=None, output_hash=bytes_hash(data), output_size=len(data),
                duration_s=time.perf_counter() - started, device=attempt.device,
                environment_json=json.dumps(environment(attempt.device), sort_keys=True),
                metrics_json=json.dumps(attempt.metrics, sort_keys=True) or None)
            builder.store.insert_generations([row])
            rendered += 1
        if progress:
            progress(len(todo), len(todo), "")
    finally:
        builder.store.finish_build(build_id, "finished", {"candidates": rendered,
                                                          "failed": len(errors)})
    return rendered, errors
