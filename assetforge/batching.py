"""Batched generation: jobs of one model that differ only per image, generated N at a time.

A generator opts in with two optional methods (the ``Generator`` protocol, docs/plugins.md):
``batch_size(job, recipe)`` says how many jobs like this one it generates in one call (1, or
absent: alone), and ``generate_batch(loaded, jobs, ctxs)`` generates them. Jobs are grouped
when their generator, model and recipe agree in everything but the per-image fields
(``PER_IMAGE``: prompt, negative prompt, seed; a generator's optional ``batch_shape`` may
leave out more, e.g. each job's ControlNet image). So a group shares size, steps, scheduler,
guidance and every plugin's parameters (style packs and weights, tiling, …), and one entry
into the plugins' generation contexts serves the whole group.

A failing image fails alone: an entry of ``generate_batch``'s result may be an exception (that
job fails), and a batch call that raises is retried one job at a time. Post-processing, checks,
writing and records stay per job. Only the local executor batches; others render one job per
call, which a generator must answer with the same bytes (the diffusers one pads the call to its
batch size).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from .environment import environment
from .errors import PluginError, UserError
from .hashing import canonical_json
from .interfaces import GenerationContext, Generator

if TYPE_CHECKING:
    from .engine import Builder
    from .executors import Rendered
    from .plan import JobPlan

PER_IMAGE = ("prompt", "negative_prompt", "seed")  # recipe fields a batch may vary


def batch_size(jp: JobPlan) -> int:
    """How many jobs like ``jp`` its generator makes per call (1 when it does not batch)."""
    gen = jp.generator
    ask = getattr(gen, "batch_size", None)
    if ask is None or not hasattr(gen, "generate_batch") or jp.recipe is None or jp.model is None:
        return 1
    size = ask(jp.job, jp.recipe)
    return size if isinstance(size, int) and size > 1 else 1


def shape_key(jp: JobPlan) -> str:
    """What jobs of one batch share: model and generator, and what the generator's
    ``batch_shape`` keeps of the recipe (default: all but its per-image fields)."""
    gen = jp.generator
    shape = getattr(gen, "batch_shape", None)
    recipe = jp.recipe or {}
    kept = shape(jp.job, recipe) if shape is not None else {
        k: v for k, v in recipe.items() if k not in PER_IMAGE}
    return canonical_json([gen.name if gen is not None else "", jp.job.model, kept])


def group_jobs(jobs: list[JobPlan],
               size_of: Callable[[JobPlan], int] = batch_size) -> list[list[JobPlan]]:
    """``jobs`` in groups to generate together: each group has one shape and at most its
    batch size; jobs that do not batch are groups of one. Groups come in the order of their
    first job; jobs keep their order inside a group."""
    groups: list[list[JobPlan]] = []
    open_: dict[str, list[JobPlan]] = {}  # shape -> the group still filling
    for jp in jobs:
        size = size_of(jp)
        if size <= 1:
            groups.append([jp])
            continue
        key = shape_key(jp)
        group = open_.get(key)
        if group is None or len(group) >= size:
            group = open_[key] = []
            groups.append(group)
        group.append(jp)
    return groups


class BatchingRender:
    """The ``render`` the engine hands executors: called with one job it renders that job;
    its ``batch(jobs)`` (used by the local executor) renders groups in one generator call."""

    def __init__(self, builder: Builder):
        self.builder = builder

    def __call__(self, jp: JobPlan) -> Rendered:
        return self.builder.render_result(jp)

    def batch(self, jobs: list[JobPlan]) -> Iterator[Rendered]:
        for group in group_jobs(jobs):
            if len(group) == 1:
                yield self.builder.render_result(group[0])
            else:
                yield from render_group(self.builder, group)


def _failed(jp: JobPlan, error: BaseException, gen: Generator, device: str,
            metrics: dict[str, Any], took: float) -> Rendered:
    from .executors import Rendered

    if isinstance(error, (UserError, PluginError)):
        message, plugin = str(error), getattr(error, "plugin", None)
    else:
        message, plugin = f"{type(error).__name__}: {error}", gen.name
    return Rendered(jp.job.job_id, None, message, plugin, metrics, device, took,
                    environment(device))


def render_group(builder: Builder, group: list[JobPlan]) -> list[Rendered]:
    """Render jobs of one shape in one ``generate_batch`` call; each job is finished (post-
    processed, checked, encoded) on its own. Nothing is written."""
    from .executors import Rendered
    from .outputs import a1111_parameters

    started = time.perf_counter()
    gen, model, project = group[0].generator, group[0].model, builder.project
    assert gen is not None and model is not None
    ready: list[JobPlan] = []
    out: dict[str, Rendered] = {}
    for jp in group:
        try:
            builder.checked_output(jp)  # an output outside the project fails alone
            ready.append(jp)
        except UserError as e:
            out[jp.job.job_id] = _failed(jp, e, gen, "?", {}, 0.0)
    if not ready:
        return [out[jp.job.job_id] for jp in group]
    try:
        loaded = builder.models.get(project, ready[0].job.model, gen, model.hash)
        device = gen.device_of(loaded)
        ctxs = [GenerationContext(project, jp.job, jp.recipe or {}, loaded, gen.name, device)
                for jp in ready]
        images = generate_group(builder, gen, loaded, ctxs)
    except Exception:  # noqa: BLE001 - one bad job must not fail the others: one at a time
        return [out.get(jp.job.job_id) or builder.render_result(jp) for jp in group]
    share = (time.perf_counter() - started) / len(ready)
    for i, (jp, ctx, image) in enumerate(zip(ready, ctxs, images, strict=True)):
        ctx.metrics["batch"] = {"jobs": len(ready), "index": i}
        began = time.perf_counter()
        try:
            if isinstance(image, BaseException):
                raise image
            data = builder.finish(jp, image, ctx, a1111_parameters(jp.job, model.hash,
                                                                   jp.job.model))
        except Exception as e:  # noqa: BLE001 - recorded as this job's failure
            out[jp.job.job_id] = _failed(jp, e, gen, device, ctx.metrics,
                                         share + time.perf_counter() - began)
            continue
        out[jp.job.job_id] = Rendered(jp.job.job_id, data, None, None, ctx.metrics, device,
                                      share + time.perf_counter() - began,
                                      environment(device))
    return [out[jp.job.job_id] for jp in group]


def generate_group(builder: Builder, gen: Generator, loaded: Any,
                   ctxs: list[GenerationContext]) -> list[Any]:
    """``gen.generate_batch`` inside the plugins' generation contexts, entered once for the
    group (its jobs share every plugin parameter); what they record goes to every job."""
    with ExitStack() as stack:
        builder.enter_generation_contexts(stack, ctxs[0])
        make = getattr(gen, "generate_batch")  # noqa: B009 - optional (BatchGenerator)
        images = list(make(loaded, [c.job for c in ctxs], ctxs))
    if len(images) != len(ctxs):
        raise PluginError(gen.name, ValueError(
            f"generate_batch returned {len(images)} images for {len(ctxs)} jobs"))
    for ctx in ctxs[1:]:
        for key, value in ctxs[0].metrics.items():
            ctx.metrics.setdefault(key, value)
    return images
