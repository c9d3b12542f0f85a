"""Build nodes beyond "paint one image": file-sourced assets, derived files, step-built assets.

Each is a ``Job`` (so planning, records, restore and verify treat it like any output) with a
recipe of its own. Torch- and PIL-free: planning imports this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .interfaces import AssetSpec, AssetStep, DerivedFile, DerivedStep, InputRef, Job
from .manifest import output_path, view_names
from .recipe import RECIPE_VERSION


def is_file_sourced(spec: AssetSpec) -> bool:
    return "image" in spec.fields


def source_job(spec: AssetSpec, view: str | None, output: str) -> Job:
    """The job of a file-sourced asset: no prompt, model or size (the file's size is kept)."""
    return Job(spec.id, spec.kind, view, "", "", 0, 0, 0, 0, 0.0, "", "", output, spec)


def source_jobs(spec: AssetSpec, folder: str) -> list[Job]:
    """A file-sourced asset's jobs (one per view, all from the same file)."""
    return [source_job(spec, view, output_path(spec, view, folder)) for view in view_names(spec)]


@dataclass
class DerivedJob(Job):
    """One ``DerivedFile`` of a primary job: job id ``<primary job id>/<file name>``."""

    step: DerivedStep | None = None
    file: DerivedFile | None = None
    source_id: str = ""  # the primary job's id

    @property
    def job_id(self) -> str:
        assert self.file is not None
        return f"{self.source_id}/{self.file.name}"


def derived_job(primary: Job, step: DerivedStep, file: DerivedFile) -> DerivedJob:
    return DerivedJob(primary.asset_id, primary.kind, primary.view, "", "", 0, 0, 0, 0, 0.0,
                      "", "", file.output, primary.spec, step=step, file=file,
                      source_id=primary.job_id)


@dataclass
class StepJob(Job):
    """An asset built by its kind's ``AssetStep`` from other assets' outputs (many files).

    ``output`` is its main file (the first the step wrote last time); ``files`` every file of
    its last build with (hash, size, mtime_ns); ``state`` what the step asked to keep.
    """

    step: AssetStep | None = None
    files: dict[str, list[Any]] | None = None
    state: dict[str, Any] | None = None


def step_job(spec: AssetSpec, step: AssetStep, output: str,
             files: dict[str, list[Any]] | None, state: dict[str, Any] | None) -> StepJob:
    return StepJob(spec.id, spec.kind, None, "", "", 0, 0, 0, 0, 0.0, "", "", output, spec,
                   step=step, files=files, state=state)


@dataclass
class GroupFileJob(Job):
    """Another file of a step-built asset (job id ``<asset id>/<path>``); built by its main job."""

    main: StepJob | None = None

    @property
    def job_id(self) -> str:
        assert self.main is not None
        return f"{self.main.job_id}/{self.output}"


def group_file_job(main: StepJob, path: str) -> GroupFileJob:
    return GroupFileJob(main.asset_id, main.kind, None, "", "", 0, 0, 0, 0, 0.0, "", "", path,
                        main.spec, main=main)


def file_recipe(inputs: dict[str, InputRef], parts: dict[str, Any]) -> dict[str, Any]:
    """A file-sourced asset: the file's content hash plus the steps (plugins) applied."""
    return {"recipe_version": RECIPE_VERSION, "inputs": {n: i.hash for n, i in inputs.items()},
            "plugins": parts}


def derived_recipe(step: DerivedStep, file: DerivedFile, source_hash: str) -> dict[str, Any]:
    return {"recipe_version": RECIPE_VERSION,
            "step": {"name": step.name, "version": step.version, "params": file.params},
            "inputs": {"source": source_hash}}


def step_recipe(step: AssetStep, spec: AssetSpec, inputs: dict[str, InputRef]) -> dict[str, Any]:
    """Step name, version and parameters, each input's hash, and the inputs' order."""
    return {"recipe_version": RECIPE_VERSION,
            "step": {"name": step.name, "version": step.version, "params": step.params(spec)},
            "inputs": {n: i.hash for n, i in inputs.items()}, "order": list(inputs)}
