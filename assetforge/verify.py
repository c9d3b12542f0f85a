"""``assetforge verify``: outputs checked against their records, and optionally regenerated.

* Hash check: every output is re-hashed (no stat shortcut) and compared with its record:
  ``ok``, ``modified`` (a valid image, other bytes: edited), ``corrupted`` (does not decode),
  ``missing``, or ``unrecorded`` (never built: not an integrity failure).
* ``regenerate``: up-to-date jobs (all, or a random sample) are generated again into a
  scratch folder and compared with the recorded bytes: ``exact``, ``same-pixels`` (only the
  PNG encoding differs), or ``differs`` with the max and mean pixel difference and the
  environment fields (torch, diffusers, device, …) that differ from the original generation.

Results are recorded in the ``verifications`` table, grouped under a ``builds`` row.
"""

from __future__ import annotations

import io
import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import PluginError, UserError
from .hashing import bytes_hash, file_sha256
from .plan import JobPlan, Plan, output_abspath

FILE_FAILURES = ("modified", "corrupted", "missing")
REGEN_FAILURES = ("differs", "failed")
ENV_IGNORED = ("host",)  # differs between any two machines and never changes the bytes


@dataclass
class FileCheck:
    asset_id: str
    job_id: str
    output: str
    status: str  # ok | modified | corrupted | missing | unrecorded
    expected: str | None = None
    actual: str | None = None
    record_id: int | None = None
    detail: str = ""


@dataclass
class RegenCheck:
    asset_id: str
    job_id: str
    output: str
    status: str  # exact | same-pixels | differs | failed | skipped
    expected: str | None = None
    actual: str | None = None
    record_id: int | None = None
    max_diff: float | None = None
    mean_diff: float | None = None
    environment_diff: dict[str, list[Any]] = field(default_factory=dict)
    scratch: str | None = None  # the regenerated file, kept when it differs
    detail: str = ""


@dataclass
class VerifyReport:
    files: list[FileCheck]
    regenerated: list[RegenCheck] | None = None
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return (not any(f.status in FILE_FAILURES for f in self.files)
                and not any(r.status in REGEN_FAILURES for r in self.regenerated or []))

    def summary(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {"files": {}}
        for f in self.files:
            out["files"][f.status] = out["files"].get(f.status, 0) + 1
        if self.regenerated is not None:
            out["regenerated"] = {}
            for r in self.regenerated:
                out["regenerated"][r.status] = out["regenerated"].get(r.status, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"files": [asdict(f) for f in self.files]}
        if self.regenerated is not None:
            d["regenerated"] = [asdict(r) for r in self.regenerated]
        d["summary"] = self.summary()
        d["ok"] = self.ok
        return d


# -- hash check ------------------------------------------------------------------------------
def decodes(data: bytes) -> bool:
    """True when ``data`` is an image PIL can fully decode."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        return True
    except Exception:  # noqa: BLE001 - any decoder failure means "corrupted"
        return False


def check_file(plan: Plan, jp: JobPlan) -> FileCheck:
    job, last = jp.job, jp.last
    if last is None:
        return FileCheck(job.asset_id, job.job_id, job.output, "unrecorded",
                         detail="never built")
    path = plan.project.output_dir / last.output_path
    base = FileCheck(job.asset_id, job.job_id, last.output_path, "ok", last.output_hash,
                     record_id=last.record_id)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        base.status, base.detail = "missing", f"{last.output_path} does not exist"
        return base
    base.actual = bytes_hash(data)
    if base.actual != last.output_hash:
        if decodes(data):
            base.status, base.detail = "modified", "a valid image with other bytes (edited?)"
        else:
            base.status, base.detail = "corrupted", "the file does not decode as an image"
    return base


# -- regeneration ----------------------------------------------------------------------------
def pixel_diff(a: bytes, b: bytes) -> tuple[float, float] | None:
    """(max, mean) absolute pixel difference over all channels, 0-255; None if sizes differ."""
    from PIL import Image, ImageChops, ImageStat

    with Image.open(io.BytesIO(a)) as ia, Image.open(io.BytesIO(b)) as ib:
        if ia.size != ib.size:
            return None
        mode = "RGBA" if "A" in ia.getbands() + ib.getbands() else "RGB"
        diff = ImageChops.difference(ia.convert(mode), ib.convert(mode))
    highest = max(hi for _lo, hi in diff.getextrema())  # type: ignore[misc]
    means = ImageStat.Stat(diff).mean
    return float(highest), float(sum(means) / len(means))


def environment_diff(original: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, list]:
    """Fields (library versions, device, …) whose value differs: name → [original, now]."""
    if not original:
        return {}
    keys = sorted((original.keys() | now.keys()) - set(ENV_IGNORED))
    return {k: [original.get(k), now.get(k)] for k in keys if original.get(k) != now.get(k)}


def _reference_bytes(builder: Any, jp: JobPlan) -> bytes | None:
    """The recorded output's bytes: the file when it is intact, else the output cache's copy."""
    assert jp.last is not None
    path = builder.project.output_dir / jp.last.output_path
    try:
        if file_sha256(path) == jp.last.output_hash:
            return path.read_bytes()
    except OSError:
        pass
    return builder.objects.get(jp.last.output_hash, touch=False)


def _original_environment(builder: Any, jp: JobPlan) -> dict[str, Any] | None:
    assert jp.last is not None
    row = builder.store.origin(jp.last.output_hash) or builder.store.record(jp.last.record_id)
    if row is None or not row.environment_json:
        return None
    env = json.loads(row.environment_json)
    return env if isinstance(env, dict) else None


def _recorded_placement(builder: Any, jp: JobPlan) -> dict[str, Any]:
    """The recorded ``batch_index`` (the job's place in a batched call; a batched image
    depends on it), so the generator remakes the job where it was (docs/plugins.md)."""
    assert jp.last is not None
    row = builder.store.origin(jp.last.output_hash) or builder.store.record(jp.last.record_id)
    try:
        metrics = json.loads(row.metrics_json) if row is not None and row.metrics_json else {}
    except ValueError:
        return {}
    index = metrics.get("batch_index") if isinstance(metrics, dict) else None
    return {"batch_index": index} if isinstance(index, int) and index >= 0 else {}


def regenerate_one(builder: Any, jp: JobPlan, scratch: Path) -> RegenCheck:
    from .engine import _Attempt
    from .environment import environment

    job, last = jp.job, jp.last
    assert last is not None
    res = RegenCheck(job.asset_id, job.job_id, job.output, "skipped", last.output_hash,
                     record_id=last.record_id)
    expected = _reference_bytes(builder, jp)
    if expected is None:
        res.detail = "the recorded output is neither on disk nor in the output cache"
        return res
    attempt = _Attempt(metrics=_recorded_placement(builder, jp))
    try:
        data = builder.render(jp, attempt)
    except (UserError, PluginError) as e:
        res.status, res.detail = "failed", str(e)
        return res
    except Exception as e:  # noqa: BLE001 - the generator itself raised
        res.status, res.detail = "failed", f"{type(e).__name__}: {e}"
        return res
    res.actual = bytes_hash(data)
    res.environment_diff = environment_diff(_original_environment(builder, jp),
                                            environment(attempt.device))
    if data == expected:
        res.status, res.max_diff, res.mean_diff = "exact", 0.0, 0.0
        return res
    out = scratch / job.output
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    res.scratch = str(out)
    diff = pixel_diff(expected, data)
    if diff is None:
        res.status, res.detail = "differs", "the image size differs"
    else:
        res.max_diff, res.mean_diff = diff
        if diff[0] == 0:
            res.status, res.detail = "same-pixels", "identical pixels; the PNG encoding differs"
        else:
            res.status = "differs"
    return res


def verify(builder: Any, only: list[str] | None = None, *, regenerate: bool = False,
           sample: int | None = None, seed: int | None = None, record: bool = True) -> VerifyReport:
    """Check every output of the current plan (or the ``only`` asset ids); see module doc."""
    plan = builder.plan(only)
    jobs = [jp for jp in plan.jobs() if jp.status != "error"]
    files = [check_file(plan, jp) for jp in jobs]
    report = VerifyReport(files)
    build_id = builder.store.start_build("verify --regenerate" if regenerate else "verify")
    status = "interrupted"
    try:
        if regenerate:
            report.regenerated = _regenerate(builder, jobs, sample, seed, build_id)
        status = "finished"
    finally:
        if record:
            _record(builder, report, build_id)
        builder.store.finish_build(build_id, status, report.summary())
    report.run_id = build_id
    return report


def _regenerate(builder: Any, jobs: list[JobPlan], sample: int | None, seed: int | None,
                build_id: int) -> list[RegenCheck]:
    fresh = [jp for jp in jobs if jp.last is not None and jp.status == "up-to-date"]
    fresh_ids = {id(jp) for jp in fresh}
    if sample is not None:
        if sample < 1:
            raise UserError("--sample must be at least 1")
        chosen = {id(jp) for jp in random.Random(seed).sample(fresh, min(sample, len(fresh)))}
        todo = [jp for jp in fresh if id(jp) in chosen]
        results = []
    else:
        todo = fresh
        results = [RegenCheck(jp.job.asset_id, jp.job.job_id, jp.job.output, "skipped",
                              detail=f"{jp.status}: build it first" if jp.last else "never built")
                   for jp in jobs if id(jp) not in fresh_ids]
    scratch = builder.project.state_dir / "verify" / str(build_id)
    for jp in todo:
        output_abspath(builder.project, jp.job)  # refuses outputs that escape output_dir
        results.append(regenerate_one(builder, jp, scratch))
    if scratch.is_dir() and not any(scratch.rglob("*.png")):
        shutil.rmtree(scratch, ignore_errors=True)
    order = {jp.job.job_id: i for i, jp in enumerate(jobs)}
    return sorted(results, key=lambda r: order.get(r.job_id, 0))


def _record(builder: Any, report: VerifyReport, build_id: int) -> None:
    from .db import Verification

    rows = [Verification(build_id=build_id, mode="hash", asset_id=f.asset_id, job_id=f.job_id,
                         record_id=f.record_id, output_path=f.output, status=f.status,
                         expected_hash=f.expected, actual_hash=f.actual, detail=f.detail or None)
            for f in report.files]
    rows += [Verification(build_id=build_id, mode="regenerate", asset_id=r.asset_id,
                          job_id=r.job_id, record_id=r.record_id, output_path=r.output,
                          status=r.status, expected_hash=r.expected, actual_hash=r.actual,
                          max_diff=r.max_diff, mean_diff=r.mean_diff,
                          environment_diff_json=(json.dumps(r.environment_diff, sort_keys=True)
                                                 if r.environment_diff else None),
                          detail=r.detail or None)
             for r in report.regenerated or []]
    builder.store.add_all(rows)
