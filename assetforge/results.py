"""What a build reports: one result per asset, and the build's summary (``build --json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import AssetPlan, Plan


@dataclass
class AssetResult:
    id: str
    status: str  # built | restored | up-to-date | failed | skipped | (a plan status on --dry-run)
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
    stopped: bool = False  # a stop was requested (watch): remaining jobs were not run

    def summary(self) -> dict[str, int]:
        s = {"built": 0, "restored": 0, "up_to_date": 0, "failed": 0, "skipped": 0}
        for a in self.assets:
            key = {"built": "built", "restored": "restored", "up-to-date": "up_to_date",
                   "failed": "failed", "error": "failed"
                   }.get(a.status, "skipped" if not self.dry_run else None)
            if key:
                s[key] += 1
        if self.dry_run:
            s["stale"] = sum(1 for a in self.assets if a.status != "up-to-date")
        return s

    @property
    def failed(self) -> bool:
        return any(a.status in ("failed", "error") for a in self.assets)

    @property
    def stale(self) -> list[AssetResult]:
        """Assets not up to date (on ``--check``/``--dry-run``: what a build would do)."""
        return [a for a in self.assets if a.status != "up-to-date"]

    def as_dict(self) -> dict[str, Any]:
        return {"assets": [a.as_dict() for a in self.assets], "summary": self.summary()}


def merge_results(old: AssetResult | None, new: AssetResult) -> AssetResult:
    """One asset acted on in several rounds (its primary, then its derived files)."""
    if old is None:
        return new
    statuses = (old.status, new.status)
    status = next((s for s in ("failed", "built", "restored") if s in statuses), new.status)
    return AssetResult(new.id, status, old.reason or new.reason, new.outputs,
                       old.errors + new.errors)


def asset_result(a: AssetPlan, done: dict[str, str | None], restored: set[str],
                  force: bool) -> AssetResult:
    plan_status = a.status
    if plan_status == "up-to-date":  # first: most assets are, and none of their jobs ran
        return AssetResult(a.id, "up-to-date", "", a.outputs)
    errors = [f"{jp.job.job_id}: {done[jp.job.job_id]}" for jp in a.jobs
              if done.get(jp.job.job_id)]
    errors += [f"{jp.job.job_id}: {jp.reason}" for jp in a.jobs if jp.status == "error"]
    if errors:
        return AssetResult(a.id, "failed", a.reason, a.outputs, errors)
    ran = [jp.job.job_id for jp in a.jobs if jp.job.job_id in done]
    if ran:
        status = "restored" if all(j in restored for j in ran) else "built"
        return AssetResult(a.id, status, a.reason, a.outputs)
    if plan_status == "modified" and not force:
        return AssetResult(a.id, "skipped", a.reason + " (kept; --force regenerates it)",
                           a.outputs)
    return AssetResult(a.id, "skipped", a.reason, a.outputs)  # --fail-fast or a stop request
