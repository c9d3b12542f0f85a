"""Planning: for every job, is its output up to date, and if not, why. Torch-free."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PluginError, Problem, UserError
from .hashing import file_sha256
from .interfaces import AssetKind, AssetSpec, Generator, Job, ModelIdentity, RecipePart
from .plugins import Plugins
from .project import Project
from .recipe import make_jobs, make_recipe, recipe_diff, recipe_hash
from .records import LastBuild, latest_builds, recipe_jsons, recipe_outputs
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .embedded import Embedded

# Most urgent first: an asset's status is that of its most urgent job.
STATUS_ORDER = ("error", "changed", "new", "missing", "modified", "restored", "up-to-date")
# Stale statuses a cached output can fix ("modified" is a hand edit: kept unless --force).
RESTORABLE_FROM = ("new", "changed", "missing")
RESTORABLE_NOTE = "restorable from the output cache"


@dataclass
class JobPlan:
    job: Job
    status: str
    reason: str = ""
    recipe: dict[str, Any] | None = None
    key: str | None = None
    changed: list[str] = field(default_factory=list)
    last: LastBuild | None = None
    model: ModelIdentity | None = None
    generator: Generator | None = None
    error_plugin: str | None = None
    restore_from: str | None = None  # a stale job's output, already in the object store
    embedded: Embedded | None = None  # recipe read from an output that has no record yet

    @property
    def stale(self) -> bool:
        return self.status != "up-to-date"


@dataclass
class AssetPlan:
    spec: AssetSpec
    jobs: list[JobPlan]

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def status(self) -> str:
        if len(self.jobs) == 1:  # most assets: no min() over one job (10,000 per no-op)
            return self.jobs[0].status
        return min((j.status for j in self.jobs), key=STATUS_ORDER.index)

    @property
    def reason(self) -> str:
        reasons = [(f"{j.job.view}: " if j.job.view else "") + j.reason
                   for j in self.jobs if j.stale and j.reason]
        return "; ".join(dict.fromkeys(reasons))

    @property
    def outputs(self) -> list[str]:
        return [j.job.output for j in self.jobs]


@dataclass
class Plan:
    project: Project
    assets: list[AssetPlan]

    def jobs(self) -> list[JobPlan]:
        return [j for a in self.assets for j in a.jobs]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.assets:
            out[a.status] = out.get(a.status, 0) + 1
        return out


def _explain(changed: list[str]) -> str:
    tops = list(dict.fromkeys(c.split(".")[0] if not c.startswith("plugins.") else
                              ".".join(c.split(".")[:2]) for c in changed))
    return "recipe changed: " + ", ".join(tops)


def check_output(project: Project, job: Job, last: LastBuild) -> tuple[str, str]:
    """Compare the output on disk with its record: stat first, hash only when stat differs."""
    path = project.output_prefix + job.output  # a str: 10,000 Path joins cost 40 ms
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing", f"output {job.output} is missing"
    if job.output != last.output_path:
        return "missing", f"output moved to {job.output}"
    if st.st_size == last.output_size and st.st_mtime_ns == last.output_mtime_ns:
        return "up-to-date", ""
    if st.st_size == last.output_size and file_sha256(Path(path)) == last.output_hash:
        return "up-to-date", ""  # touched, not changed
    return "modified", f"output {job.output} was edited on disk"


class Planner:
    """Turns validated specs into jobs with recipes, reusing model identities per model."""

    def __init__(self, project: Project, plugins: Plugins):
        self.project = project
        self.plugins = plugins
        self.kinds: dict[str, AssetKind] = plugins.asset_kinds()
        self._identities: dict[str, tuple[Generator, ModelIdentity]] = {}
        # Read once per plan, not once per asset.
        self._salt, self._default_model = project.seed_salt, project.default_model

    def model(self, name: str) -> tuple[Generator, ModelIdentity]:
        if name not in self._identities:
            cfg = self.project.models[name]
            gen = self.plugins.generator_for(cfg)
            self._identities[name] = (gen, gen.identify(cfg, self.project))
        return self._identities[name]

    def job_plans(self, spec: AssetSpec) -> list[JobPlan]:
        """Expand ``spec`` through plugins and make one recipe per job (status left 'new')."""
        try:
            self.plugins.call_each("expand_spec", spec=spec, project=self.project)
        except PluginError as e:
            job = Job(spec.id, spec.kind, None, "", "", 0, 0, 0, 0, 0.0, "", "", "", spec)
            return [JobPlan(job, "error", str(e), error_plugin=e.plugin)]
        jobs = make_jobs(spec, self._salt, self._default_model, self.kinds[spec.kind].output_dir)
        plans = []
        for job in jobs:
            gen, ident = self.model(job.model)
            try:
                parts: list[RecipePart] = []
                for _name, res in self.plugins.call_each("recipe_parts", job=job,
                                                         project=self.project):
                    parts.extend(res if isinstance(res, list) else [res])
                recipe = make_recipe(job, ident, gen, parts)
            except PluginError as e:
                plans.append(JobPlan(job, "error", str(e), model=ident, generator=gen,
                                     error_plugin=e.plugin))
                continue
            plans.append(JobPlan(job, "new", "never built", recipe, recipe_hash(recipe),
                                 model=ident, generator=gen))
        return plans


def select(specs: list[AssetSpec], only: list[str] | None) -> list[AssetSpec]:
    """The specs named in ``only`` (asset ids), or all; unknown ids are a usage error."""
    if not only:
        return specs
    by_id = {s.id: s for s in specs}
    unknown = [i for i in only if i not in by_id]
    if unknown:
        raise UserError("; ".join(f"unknown asset {i!r}" + did_you_mean(i, by_id)
                                  for i in unknown))
    return [by_id[i] for i in dict.fromkeys(only)]


def _from_embedded(project: Project, jp: JobPlan) -> None:
    """A job without a record: let its output file, if any, say which recipe made it."""
    path = project.output_dir / jp.job.output
    if not path.is_file():
        return
    from .embedded import read_embedded  # only on fresh clones: keeps the no-op path lean

    emb = read_embedded(path)
    if emb is None:
        jp.reason = f"never built (output {jp.job.output} has no recipe: it will be replaced)"
        return
    jp.embedded = emb
    if emb.recipe_hash == jp.key:
        jp.status, jp.reason = "up-to-date", ""
    else:
        jp.changed = recipe_diff(emb.recipe, jp.recipe or {})
        jp.status, jp.reason = "changed", _explain(jp.changed) + " (per the recipe in the file)"


def mark_restorable(project: Project, jobs: list[JobPlan]) -> None:
    """Stale jobs whose current recipe already has an output in the object store (a revert,
    a deleted output, a CI runner with a restored cache): the build restores, not generates.

    The status stays the cause (changed, missing, new); the reason says it is restorable.
    The database maps recipe hash → output hash (indexed); a shared store's refs answer for
    recipes this clone never built. Only stale jobs get here, so a no-op plan never looks.
    """
    if not jobs:
        return
    from .objects import ObjectStore

    store = ObjectStore(project.cache_dir)
    known = recipe_outputs(project.database, [jp.key for jp in jobs if jp.key])
    for jp in jobs:
        assert jp.key is not None
        digest = known.get(jp.key)
        if digest is None or not store.has(digest):
            digest = store.ref(jp.key)
        if digest is not None and store.has(digest):
            jp.restore_from = digest
            jp.reason = f"{jp.reason}; {RESTORABLE_NOTE}"


def make_plan(project: Project, plugins: Plugins, specs: list[AssetSpec],
              only: list[str] | None = None, force: bool = False,
              restore: bool = True) -> Plan:
    """Plan ``specs`` (or the ``only`` ids). ``restore``: find cached outputs for stale jobs
    (never under ``force``, which means "generate again")."""
    planner = Planner(project, plugins)
    last = latest_builds(project.database)
    assets = []
    changed: list[JobPlan] = []
    for spec in select(specs, only):
        jobs = planner.job_plans(spec)
        for jp in jobs:
            if jp.status == "error":
                continue
            jp.last = prev = last.get(jp.job.job_id)
            if prev is None:
                _from_embedded(project, jp)
            elif prev.recipe_hash != jp.key:
                jp.status = "changed"
                changed.append(jp)
            else:
                jp.status, jp.reason = check_output(project, jp.job, prev)
            if force and jp.status == "up-to-date":
                jp.status, jp.reason = "changed", "forced"
        assets.append(AssetPlan(spec, jobs))
    # Why each changed job changed: its old recipes come in one query, not one per job.
    old = recipe_jsons(project.database, [jp.last.record_id for jp in changed if jp.last])
    for jp in changed:
        raw = old.get(jp.last.record_id) if jp.last else None
        jp.changed = recipe_diff(json.loads(raw), jp.recipe or {}) if raw else []
        jp.reason = _explain(jp.changed)
    if restore and not force:
        mark_restorable(project, [jp for a in assets for jp in a.jobs
                                  if jp.status in RESTORABLE_FROM and jp.key])
    return Plan(project, assets)


def output_abspath(project: Project, job: Job) -> Path:
    path = (project.output_dir / job.output).resolve()
    # Validation already refuses '..'; this guards symlinked folders pointing outside.
    if os.path.commonpath([path, project.output_dir]) != str(project.output_dir):
        spec = job.spec
        where = spec.where("output") if "output" in spec.explicit else spec.location
        raise UserError([Problem(where, f"{spec.kind}.{spec.id}.output",
                                 f"{job.output} resolves outside output_dir ({path}): "
                                 "a symbolic link leads out of the project")])
    return path
