"""Licences of the weights that make each asset: read, recorded, reported and enforced.

Plugins say which weight files a job uses through the ``weight_licenses`` hook, with a licence
declared in their config (``license = "…"``) or read from the weights themselves by the two
readers here: a ``.safetensors`` header's ``__metadata__["modelspec.license"]`` (Stability's
model-spec key) and the ``license:`` field of a Hugging Face model card's front matter
(``README.md`` in a model folder). Torch-free.

``[policy] allowed_licenses = [...]`` and ``require_license = true`` turn an unlisted or
unknown licence into a failed job (``build`` and ``build --check`` exit 1, naming the asset
and the weight file). A derived output inherits the licences of its inputs: the report
follows the input hashes recorded in its recipe to the records that produced them.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .interfaces import WeightLicense

if TYPE_CHECKING:
    from .interfaces import Job
    from .plan import Plan
    from .plugins import Plugins
    from .project import Project

MAX_HEADER = 1 << 26  # a safetensors header larger than 64 MiB is not one


def safetensors_license(path: Path) -> str | None:
    """``modelspec.license`` (or ``license``) from a .safetensors header's ``__metadata__``."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                return None
            (n,) = struct.unpack("<Q", raw)
            if n > MAX_HEADER:
                return None
            header = json.loads(f.read(n))
    except (OSError, ValueError):
        return None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        return None
    value = meta.get("modelspec.license") or meta.get("license")
    return value.strip() if isinstance(value, str) and value.strip() else None


def front_matter_license(readme: Path) -> str | None:
    """The ``license:`` field of a model card's YAML front matter (between ``---`` lines)."""
    try:
        lines = readme.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if not lines or lines[0].strip() != "---":
        return None
    for line in lines[1:]:
        if line.strip() == "---":
            break
        key, sep, value = line.partition(":")
        if sep and key.strip() == "license" and not line.startswith((" ", "\t")):
            value = value.split(" #", 1)[0].strip().strip("'\"")
            return value or None
    return None


def job_licenses(project: Project, plugins: Plugins, job: Job) -> list[WeightLicense]:
    """Every plugin's ``weight_licenses`` for ``job``, in plugin order."""
    out: list[WeightLicense] = []
    for _name, res in plugins.call_each("weight_licenses", job=job, project=project):
        out.extend(res)
    return out


# -- policy ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    allowed: tuple[str, ...] | None  # lower-cased; None: any licence
    require: bool

    @classmethod
    def of(cls, project: Project) -> Policy:
        table = project.config.get("policy", {})
        allowed = table.get("allowed_licenses")
        return cls(tuple(a.lower() for a in allowed) if allowed is not None else None,
                   bool(table.get("require_license", False)))

    def violation(self, lic: WeightLicense) -> str | None:
        if lic.license is None:
            return "has no known licence (declare license = \"…\")" if self.require else None
        if self.allowed is not None and lic.license.lower() not in self.allowed:
            return f"has licence {lic.license!r}, not in [policy] allowed_licenses"
        return None


def enforce_policy(project: Project, plugins: Plugins, plan: Plan) -> None:
    """Mark every job whose weights (or whose inputs' weights) break ``[policy]`` as failed."""
    from .errors import PluginError

    policy = Policy.of(project)
    per_job: dict[str, list[WeightLicense]] = {}
    for jp in plan.jobs():
        if jp.status == "error":
            continue
        try:
            per_job[jp.job.job_id] = job_licenses(project, plugins, jp.job)
        except PluginError as e:  # fails this job only, like any plugin error while planning
            jp.status, jp.reason, jp.error_plugin = "error", str(e), e.plugin
            jp.restore_from = None
    by_asset = {a.id: [lic for jp in a.jobs for lic in per_job.get(jp.job.job_id, [])]
                for a in plan.assets}
    for a in plan.assets:
        for jp in a.jobs:
            if jp.status == "error":
                continue
            own = per_job[jp.job.job_id]
            upstream = [(ref.asset, lic) for ref in jp.job.inputs.values() if ref.asset
                        for lic in by_asset.get(ref.asset, [])]
            problems = [f"{lic.role} {lic.file} {msg}" for lic in own
                        if (msg := policy.violation(lic))]
            problems += [f"input @{up}: {lic.role} {lic.file} {msg}" for up, lic in upstream
                         if (msg := policy.violation(lic))]
            if problems:
                jp.status = "error"
                jp.reason = f"licence policy: asset {a.id}: " + "; ".join(
                    dict.fromkeys(problems))
                jp.error_plugin = "policy"
                jp.restore_from = None


# -- the report --------------------------------------------------------------------------------
@dataclass
class ShippedOutput:
    asset: str
    job: str
    output: str
    licenses: list[dict[str, Any]] = field(default_factory=list)  # own weights
    inherited: list[dict[str, Any]] = field(default_factory=list)  # through recorded inputs

    def as_dict(self) -> dict[str, Any]:
        return {"asset": self.asset, "job": self.job, "output": self.output,
                "licenses": self.licenses, "inherited": self.inherited}


def report(project: Project, plugins: Plugins | None = None,
           plan: Plan | None = None) -> list[ShippedOutput]:
    """Per shipped output (the newest record of every job of a current asset), the weight
    files that made it with their licences, plus those of its inputs, followed through the
    input hashes its recipe recorded (derived outputs, img2img, ControlNet images…)."""
    import sqlite3

    db = project.database
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT asset_id, job_id, output_path, output_hash, recipe_json, licenses_json"
            " FROM generations WHERE id IN (SELECT MAX(id) FROM generations WHERE status IN"
            " ('ok', 'restored', 'adopted') GROUP BY job_id) ORDER BY asset_id, job_id"
        ).fetchall()
        by_output: dict[str, tuple[str, str | None, str | None]] = {}
        for h, rid, rj, lj in conn.execute(
                "SELECT output_hash, id, recipe_json, licenses_json FROM generations WHERE"
                " status IN ('ok', 'restored', 'adopted') AND output_hash IS NOT NULL"
                " ORDER BY id"):
            by_output[h] = (str(rid), rj, lj)
    finally:
        conn.close()
    current = {a.id: a for a in plan.assets} if plan is not None else None
    jobs = {jp.job.job_id: jp.job for a in plan.assets for jp in a.jobs} if plan else {}
    out = []
    for asset, job_id, output, _h, recipe_json, licenses_json in rows:
        if current is not None and asset not in current:
            continue  # no longer in the manifests: not shipped
        own = json.loads(licenses_json) if licenses_json else []
        if not own and plugins is not None and job_id in jobs:  # adopted: ask the plugins
            own = [lic.__dict__ for lic in job_licenses(project, plugins, jobs[job_id])]
        item = ShippedOutput(asset, job_id, output or "", own)
        item.inherited = _inherited(json.loads(recipe_json or "{}"), by_output, set())
        out.append(item)
    return out


def _inherited(recipe: dict[str, Any], by_output: dict[str, tuple[str, str | None, str | None]],
               seen: set[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    inputs = recipe.get("inputs")
    if not isinstance(inputs, dict):
        return found
    for name, digest in sorted(inputs.items()):
        if not isinstance(digest, str) or digest in seen or digest not in by_output:
            continue
        seen.add(digest)
        _rid, rj, lj = by_output[digest]
        for lic in (json.loads(lj) if lj else []):
            found.append({**lic, "via": name})
        for lic in _inherited(json.loads(rj or "{}"), by_output, seen):
            found.append({**lic, "via": f"{name} ← {lic.get('via', '')}"})
    return found
