"""Planning: for every job, is its output up to date, and if not, why. Torch-free."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PluginError, Problem, UserError
from .graph import AssetGraph, build_graph
from .hashing import file_sha256
from .interfaces import (
    AssetKind,
    AssetSpec,
    AssetStep,
    DerivedStep,
    Generator,
    InputRef,
    Job,
    ModelIdentity,
    RecipePart,
)
from .manifest import output_path
from .nodes import (
    StepJob,
    derived_job,
    derived_recipe,
    file_recipe,
    group_file_job,
    is_file_sourced,
    source_jobs,
    step_job,
    step_recipe,
)
from .plugins import Plugins
from .project import Project
from .recipe import make_jobs, make_recipe, plugin_table, recipe_diff, recipe_hash
from .records import LastBuild, latest_builds, recipe_jsons, recipe_outputs, step_records
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .embedded import Embedded
    from .plancache import PlanCache

# Most urgent first: an asset's status is that of its most urgent job.
# "stale": waits for an input that is not final yet ("input @X is changed"); its recipe is
# made once X is built, in the same build.
STATUS_ORDER = ("error", "changed", "new", "missing", "modified", "stale", "restored",
                "up-to-date")
_NO_GROUP: list[JobPlan] = []  # shared, never appended to
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
    group: str | None = None  # another file of a step-built asset: built by that job

    @property
    def stale(self) -> bool:
        return self.status != "up-to-date"


class CachedJobPlan(JobPlan):
    """A job planned from the plan cache: its recipe hash is known, its recipe is made only
    when something asks for it (a changed job's diff, a build, ``show``)."""

    _recipe: dict[str, Any] | None = None
    _make: Any = None  # () -> the recipe

    def __init__(self, job: Job, key: str, model: ModelIdentity | None,  # noqa: D107
                 generator: Generator | None, make: Any) -> None:
        # One per job of a no-op plan: set what differs from the field defaults (class
        # attributes of the dataclass), nothing more.
        self.__dict__.update(job=job, status="new", reason="never built", key=key,
                             changed=[], model=model, generator=generator, _make=make)

    @property  # type: ignore[override]
    def recipe(self) -> dict[str, Any] | None:
        if self._recipe is None and self._make is not None:
            self._recipe, self._make = self._make(), None
        return self._recipe

    @recipe.setter
    def recipe(self, value: dict[str, Any] | None) -> None:
        self._recipe = value


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
    graph: AssetGraph | None = None

    def jobs(self) -> list[JobPlan]:
        return [j for a in self.assets for j in a.jobs]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.assets:
            out[a.status] = out.get(a.status, 0) + 1
        return out


def _explain(changed: list[str], job: Job | None = None) -> str:
    """``recipe changed: prompt``; a changed input by its reference: ``inputs changed:
    @wall_brick``."""
    inputs = job.inputs if job is not None else {}
    refs = [inputs[c[7:]].ref if c[7:] in inputs else c[7:]
            for c in changed if c.startswith("inputs.")]
    tops = list(dict.fromkeys(c.split(".")[0] if not c.startswith("plugins.") else
                              ".".join(c.split(".")[:2]) for c in changed
                              if not c.startswith("inputs.")))
    if refs and set(tops) <= {"order"}:
        tops = []
    parts = (["recipe changed: " + ", ".join(tops)] if tops else []) + (
        ["inputs changed: " + ", ".join(dict.fromkeys(refs))] if refs else [])
    return "; ".join(parts) or "recipe changed"


def check_output(project: Project, job: Job, last: LastBuild,
                 prefix: str | None = None) -> tuple[str, str]:
    """Compare the output on disk with its record: stat first, hash only when stat differs.
    ``prefix``: ``project.output_prefix``, when the caller has it."""
    # a str: 10,000 Path joins cost 40 ms
    path = (prefix or project.output_prefix) + job.output
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


def check_file(project: Project, output: str, digest: str, size: int,
               mtime_ns: int) -> tuple[str, str]:
    path = project.output_prefix + output  # a str: 10,000 Path joins cost 40 ms
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing", f"output {output} is missing"
    if st.st_size == size and st.st_mtime_ns == mtime_ns:
        return "up-to-date", ""
    if st.st_size == size and file_sha256(Path(path)) == digest:
        return "up-to-date", ""  # touched, not changed
    return "modified", f"output {output} was edited on disk"


class Planner:
    """Turns validated specs into jobs with recipes, reusing model identities per model.

    Assets are planned in dependency order; ``final`` remembers each planned job's output
    hash on disk (None while it is stale), which its dependents' recipes hold.
    """

    def __init__(self, project: Project, plugins: Plugins, cache: PlanCache | None = None):
        self.project = project
        self.plugins = plugins
        self.cache = cache
        self.kinds: dict[str, AssetKind] = plugins.asset_kinds()
        self._identities: dict[str, tuple[Generator, ModelIdentity]] = (
            cache.models if cache is not None else {})
        self._recipes: dict[str, dict[str, Any]] = {}  # job id → recipe (CachedJobPlan)
        # Read once per plan, not once per asset.
        self._salt, self._default_model = project.seed_salt, project.default_model
        self.derived_steps: list[DerivedStep] = [
            d for ds in plugins.hook.register_derived_outputs() for d in ds]
        self.final: dict[str, tuple[str | None, str, str]] = {}  # job id → (hash, status, out)
        self.graph: AssetGraph | None = None
        self.step_recs: dict[str, dict] = {}
        self.upstreams: set[str] = set()  # assets some other asset takes as an input
        self._output_dir = project.output_dir
        self._prefix = project.output_prefix

    def prepare(self, specs: list[AssetSpec]) -> AssetGraph:
        """Resolve and check every image input (a ``UserError`` when one is wrong)."""
        step_ids = [s.id for s in specs if self.kinds[s.kind].step is not None]
        if step_ids:
            self.step_recs = step_records(self.project.database, step_ids)
        previous = {i: r.get("step_state") for i, r in self.step_recs.items()}
        self.graph = build_graph(self.project, specs, self.kinds, self.plugins.manifest_keys(),
                                 previous)
        self.upstreams = {e.asset for edges in self.graph.edges.values() for e in edges
                          if e.asset is not None}
        return self.graph

    def model(self, name: str) -> tuple[Generator, ModelIdentity]:
        if name not in self._identities:
            cfg = self.project.models[name]
            gen = self.plugins.generator_for(cfg)
            self._identities[name] = (gen, gen.identify(cfg, self.project))
        return self._identities[name]

    def inputs_of(self, spec: AssetSpec, view: str | None) -> tuple[dict[str, InputRef], str]:
        """A job's inputs with their hashes on disk; a reason when one is not final yet."""
        edges = self.graph.edges.get(spec.id) if self.graph is not None else None
        if not edges:
            return {}, ""
        out: dict[str, InputRef] = {}
        for e in edges:
            if not e.applies(view):
                continue
            if e.path is not None:
                out[e.name] = InputRef(e.name, e.ref, e.path, self.project.hash_file(e.path))
                continue
            assert e.asset is not None
            digest, status, output = self.final.get(
                e.asset if e.view is None else f"{e.asset}#{e.view}", (None, "error", ""))
            if digest is None:
                return out, f"input {e.ref} is {status}"
            out[e.name] = InputRef(e.name, e.ref, self._output_dir / output, digest,
                                   e.asset, e.view)
        return out, ""

    def job_plans(self, spec: AssetSpec) -> list[JobPlan]:
        """Expand ``spec`` through plugins and make one recipe per job (status left 'new';
        'stale' for a job whose input is not final yet). With a plan cache: an asset whose
        file and dependencies are unchanged takes its recipe hashes from it."""
        cache = self.cache
        if cache is None:
            return self._job_plans(spec)
        plain = (self.kinds[spec.kind].step is None and not spec.animations  # frames: in full
                 and (self.graph is None or spec.id not in self.graph.edges))
        hit = cache.entry(spec.id) if plain else None
        if hit is not None:
            plans = self._cached_plans(spec, hit)
            if plans is not None:
                return plans
        before = _snapshot(spec.fields)
        self.project._deps = deps = {}
        try:
            plans = self._job_plans(spec)
        finally:
            self.project._deps = None
        self._remember(spec, before, plans, deps, plain)
        return plans

    def _remember(self, spec: AssetSpec, before: dict[str, Any] | None, plans: list[JobPlan],
                  deps: dict[str, str], plain: bool) -> None:
        """Note a fully planned asset in the plan cache: its recipe hashes when the cache can
        answer them next time, else only what its file's validation depends on."""
        from .plancache import marshal_ok

        assert self.cache is not None
        fields = spec.fields
        delta = {k: v for k, v in fields.items()
                 if before is None or k not in before or before[k] != v}
        models = {jp.job.model: jp.model.hash for jp in plans if jp.model is not None}
        keys: list[str] | None = [jp.key or "" for jp in plans]
        if (not plain or before is None or before.keys() - fields.keys()
                or not marshal_ok(delta)
                or any(jp.status != "new" or not jp.key or jp.job.inputs for jp in plans)):
            keys, delta = None, {}
        self.cache.add(spec.id, spec.source.path, delta, models, deps, keys)

    def _cached_plans(self, spec: AssetSpec, hit: list[Any]) -> list[JobPlan] | None:
        delta, _models, _deps, keys = hit
        fields = spec.fields
        unexpanded = dict(fields)
        if delta:
            fields.update(delta)  # as expand_spec left it
        jobs = make_jobs(spec, self._salt, self._default_model, self.kinds[spec.kind].output_dir)
        if len(jobs) != len(keys):
            spec.fields = unexpanded
            return None
        plans: list[JobPlan] = []
        for job, key in zip(jobs, keys, strict=True):
            gen, ident = self.model(job.model)
            plans.append(CachedJobPlan(job, key, ident, gen, lambda job_id=job.job_id:
                                       self._recipe_of(spec, unexpanded, job_id)))
        return plans

    def _recipe_of(self, spec: AssetSpec, unexpanded: dict[str, Any],
                   job_id: str) -> dict[str, Any] | None:
        """A cached job's recipe, made in full from the spec as loaded (expand_spec runs on a
        copy: it need not be idempotent), and its asset's other jobs' with it."""
        if job_id not in self._recipes:
            copy = AssetSpec(spec.id, spec.kind, dict(unexpanded), spec.source, spec.explicit)
            for jp in self._job_plans(copy):
                if jp.recipe is not None:
                    self._recipes[jp.job.job_id] = jp.recipe
        return self._recipes.get(job_id)

    def _job_plans(self, spec: AssetSpec) -> list[JobPlan]:
        try:
            self.plugins.call_for("expand_spec", spec.fields, spec=spec, project=self.project)
        except PluginError as e:
            job = Job(spec.id, spec.kind, None, "", "", 0, 0, 0, 0, 0.0, "", "", "", spec)
            return [JobPlan(job, "error", str(e), error_plugin=e.plugin)]
        kind = self.kinds[spec.kind]
        if kind.step is not None:
            return [self.step_plan(spec, kind.step, kind.output_dir)]
        file_sourced = is_file_sourced(spec)
        jobs = (source_jobs(spec, kind.output_dir) if file_sourced else
                make_jobs(spec, self._salt, self._default_model, kind.output_dir))
        plans = []
        for job in jobs:
            if self.graph is not None and spec.id in self.graph.edges:
                job.inputs, waiting = self.inputs_of(spec, job.view)
                if waiting:
                    plans.append(JobPlan(job, "stale", waiting))
                    continue
            if file_sourced:
                gen, ident = None, None
            else:
                gen, ident = self.model(job.model)
            try:
                parts: list[RecipePart] = []
                for _name, res in self.plugins.call_for("recipe_parts", spec.fields, job=job,
                                                        project=self.project):
                    parts.extend(res if isinstance(res, list) else [res])
                if gen is None or ident is None:
                    recipe = file_recipe(job.inputs, plugin_table(parts))
                else:
                    recipe = make_recipe(job, ident, gen, parts)
                    if job.inputs:
                        recipe["inputs"] = {n: i.hash for n, i in job.inputs.items()}
            except PluginError as e:
                plans.append(JobPlan(job, "error", str(e), model=ident, generator=gen,
                                     error_plugin=e.plugin))
                continue
            plans.append(JobPlan(job, "new", "never built", recipe, recipe_hash(recipe),
                                 model=ident, generator=gen))
        return plans

    def step_plan(self, spec: AssetSpec, step: AssetStep, folder: str) -> JobPlan:
        """An asset of a kind built by a step: one job that writes every file of the step."""
        rec = self.step_recs.get(spec.id) or {}
        files = {p: rest for p, *rest in rec.get("step_files") or []} or None
        output = next(iter(files)) if files else output_path(spec, None, folder)
        job = step_job(spec, step, output, files, rec.get("step_state"))
        job.inputs, waiting = self.inputs_of(spec, None)
        if waiting:
            return JobPlan(job, "stale", waiting)
        try:
            recipe = step_recipe(step, spec, job.inputs)
        except Exception as e:  # noqa: BLE001 - the step's params() raised
            return JobPlan(job, "error", str(PluginError(step.name, e)), error_plugin=step.name)
        return JobPlan(job, "new", "never built", recipe, recipe_hash(recipe))

    def derived_plans(self, primaries: list[JobPlan]) -> list[JobPlan]:
        """One node per derived file of each primary job, recipe from the primary's hash."""
        out: list[JobPlan] = []
        if not self.derived_steps:
            return out
        for jp in primaries:
            if jp.status == "error" or isinstance(jp.job, StepJob):
                continue
            fields = jp.job.spec.fields
            for step in self.derived_steps:
                if step.keys is not None and step.keys.isdisjoint(fields):
                    continue
                try:
                    files = step.files(jp.job, self.project)
                except Exception as e:  # noqa: BLE001
                    err = PluginError(step.name, e)
                    jp.status, jp.reason, jp.error_plugin = "error", str(err), step.name
                    break
                for f in files:
                    job = derived_job(jp.job, step, f)
                    digest, status, output = self.final.get(jp.job.job_id, (None, "error", ""))
                    ref = "@" + jp.job.asset_id + (f":{jp.job.view}" if jp.job.view else "")
                    if digest is None:  # the primary's own reason says why
                        out.append(JobPlan(job, "stale"))
                        continue
                    job.inputs = {"source": InputRef("source", ref, self.project.output_dir
                                                     / output, digest, jp.job.asset_id,
                                                     jp.job.view)}
                    recipe = derived_recipe(step, f, digest)
                    out.append(JobPlan(job, "new", "never built", recipe, recipe_hash(recipe)))
        return out

    def settle(self, jp: JobPlan, last: dict[str, LastBuild], force: bool,
               changed: list[JobPlan]) -> list[JobPlan]:
        """Set a planned job's status from its record and its output on disk; remember its
        hash on disk for dependents. Returns the other files of a step-built asset."""
        group: list[JobPlan] = _NO_GROUP
        if jp.status != "error" and jp.status != "stale":
            jp.last = prev = last.get(jp.job.job_id)
            if prev is None:
                _from_embedded(self.project, jp)
            elif prev.recipe_hash != jp.key:
                jp.status = "changed"
                changed.append(jp)
            elif isinstance(jp.job, StepJob):
                group = self._settle_step(jp, last)
            else:
                jp.status, jp.reason = check_output(self.project, jp.job, prev, self._prefix)
            if force and jp.status == "up-to-date":
                jp.status, jp.reason = "changed", "forced"
        if jp.job.asset_id not in self.upstreams and not self.derived_steps:
            return group  # nothing takes this job's output as an input
        digest = None
        if jp.status == "up-to-date":
            digest = jp.last.output_hash if jp.last is not None else file_sha256(
                self.project.output_dir / jp.job.output)
        elif jp.status == "modified":  # a hand edit, kept: dependents are built from it
            digest = file_sha256(self.project.output_dir / jp.job.output)
        self.final[jp.job.job_id] = (digest, jp.status, jp.job.output)
        return group

    def _settle_step(self, jp: JobPlan, last: dict[str, LastBuild]) -> list[JobPlan]:
        job = jp.job
        assert isinstance(job, StepJob)
        worst, why, group = "up-to-date", "", []
        for path, (digest, size, mtime_ns) in (job.files or {}).items():
            status, reason = check_file(self.project, path, digest, size, mtime_ns)
            if STATUS_ORDER.index(status) < STATUS_ORDER.index(worst):
                worst, why = status, reason
            if path != job.output:
                gjob = group_file_job(job, path)
                group.append(JobPlan(gjob, status, reason, jp.recipe, jp.key,
                                     last=last.get(gjob.job_id), group=job.job_id))
        jp.status, jp.reason = worst, why
        return group


def _snapshot(fields: dict[str, Any]) -> dict[str, Any] | None:
    """A deep copy of a spec's fields (None when they hold a value marshal cannot copy): what
    ``expand_spec`` changes, even inside a table, is the difference from it."""
    import marshal

    try:
        return marshal.loads(marshal.dumps(fields))
    except ValueError:
        return None


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
        jp.status = "changed"
        jp.reason = _explain(jp.changed, jp.job) + " (per the recipe in the file)"


def mark_restorable(project: Project, jobs: list[JobPlan]) -> None:
    """Stale jobs whose current recipe already has an output in the object store (a revert,
    a deleted output, a CI runner with a restored cache): the build restores, not generates.

    The status stays the cause (changed, missing, new); the reason says it is restorable.
    The database maps recipe hash → output hash (indexed); a shared store's refs answer for
    recipes this clone never built. Only stale jobs get here, so a no-op plan never looks.
    """
    if not jobs:
        return
    from .stores import open_store

    store = open_store(project)
    known = recipe_outputs(project.database, [jp.key for jp in jobs if jp.key])
    # One call for all jobs: a remote store answers them in one batch of requests.
    # A step's recipe refers to its group of files (a small manifest object), never to the
    # first file its record names: its refs alone answer.
    found = store.find_restorable({jp.key: None if isinstance(jp.job, StepJob) else
                                   known.get(jp.key) for jp in jobs if jp.key})
    for jp in jobs:
        digest = found.get(jp.key or "")
        if digest is not None:
            jp.restore_from = digest
            jp.reason = f"{jp.reason}; {RESTORABLE_NOTE}"


def make_plan(project: Project, plugins: Plugins, specs: list[AssetSpec],
              only: list[str] | None = None, force: bool = False,
              restore: bool = True, cache: PlanCache | None = None) -> Plan:
    """Plan ``specs`` (or the ``only`` ids and what they need), in dependency order.
    ``restore``: find cached outputs for stale jobs (never under ``force``, which means
    "generate again"). ``cache``: the plan cache ``load_specs`` used (then given this plan's
    entries; the caller saves it)."""
    planner = Planner(project, plugins, cache)
    graph = planner.prepare(specs)
    chosen = select(specs, only)
    if only:
        wanted = set(graph.needs([s.id for s in chosen]))
        chosen = [graph.specs[i] for i in graph.order if i in wanted]
    elif graph.edges:
        chosen = [graph.specs[i] for i in graph.order]
    last = latest_builds(project.database)
    assets = []
    changed: list[JobPlan] = []
    settle = planner.settle
    for spec in chosen:
        jobs = planner.job_plans(spec)
        group: list[JobPlan] = []
        for jp in jobs:
            group += settle(jp, last, force, changed)
        derived = planner.derived_plans(jobs)
        for jp in derived:
            settle(jp, last, force, changed)
        assets.append(AssetPlan(spec, jobs + group + derived if group or derived else jobs))
    if cache is not None:
        cache.commit(chosen)
    # Why each changed job changed: its old recipes come in one query, not one per job.
    old = recipe_jsons(project.database, [jp.last.record_id for jp in changed if jp.last])
    for jp in changed:
        raw = old.get(jp.last.record_id) if jp.last else None
        jp.changed = recipe_diff(json.loads(raw), jp.recipe or {}) if raw else []
        jp.reason = _explain(jp.changed, jp.job)
    if restore and not force:
        mark_restorable(project, [jp for a in assets for jp in a.jobs
                                  if jp.status in RESTORABLE_FROM and jp.key and not jp.group])
    return Plan(project, assets, graph)


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
