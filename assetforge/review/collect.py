"""Collect what changed: against each output's record before the last build, or a git revision.

Without a base, "now" is every output on disk and "before" is each job's newest record made
before the last build that recorded outputs (its bytes come from the object store). With
``--base REF``, "before" is the output folder as committed at REF, read with ``git ls-tree``
and ``git cat-file`` (no checkout); each committed PNG carries the recipe that made it.

Any number of output rows per asset is handled alike: views (``hero#front``), derived outputs
(``floor/normal``), step outputs; each row is one item.
"""

from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..hashing import bytes_hash
from ..outputs import RECIPE_CHUNK
from ..project import Project
from ..recipe import recipe_diff
from ..records import OUTPUT_STATUSES
from ..stores import open_store
from .model import Candidate, Item, Review, Side


@dataclass
class Row:
    id: int
    build_id: int | None
    asset: str
    job: str
    kind: str
    recipe: str
    prompt: str
    seed: int
    model: str
    output: str
    hash: str
    metrics: str | None


def _rows(db: Path, statuses: tuple[str, ...] = OUTPUT_STATUSES) -> list[Row]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(statuses))
        return [Row(*r) for r in conn.execute(
            "SELECT id, build_id, asset_id, job_id, kind, recipe_json, prompt, seed, model_name,"
            f" output_path, output_hash, metrics_json FROM generations WHERE status IN ({marks})"
            " AND output_hash IS NOT NULL ORDER BY id", statuses)]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def explain(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """Changed recipe fields, and reasons a person reads: inputs by name, the rest grouped."""
    if old is None or new is None:
        return [], []
    fields = recipe_diff(old, new)
    inputs = sorted({f.split(".")[1] for f in fields if f.startswith("inputs.")})
    rest = [f for f in fields if not f.startswith("inputs.")]
    tops = list(dict.fromkeys(".".join(f.split(".")[:2]) if f.startswith("plugins.")
                              else f.split(".")[0] for f in rest))
    reasons = [f"recipe changed: {', '.join(tops)}"] if tops else []
    reasons += [f"input {name} changed" for name in inputs]
    return fields, reasons


def _checks(metrics: str | None) -> dict[str, Any]:
    if not metrics:
        return {}
    try:
        return dict(json.loads(metrics).get("checks") or {})
    except (ValueError, AttributeError):
        return {}


def _recipe(text: str | None) -> dict[str, Any] | None:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _describe(item: Item, row: Row, checks_by_hash: dict[str, dict[str, Any]]) -> None:
    item.kind, item.prompt, item.seed, item.model = row.kind, row.prompt, row.seed, row.model
    item.checks = _checks(row.metrics) or checks_by_hash.get(row.hash, {})


def _checks_by_hash(rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Output hash → checks of the generation that made it (restores record none of their own)."""
    return {r.hash: c for r in rows if (c := _checks(r.metrics))}


def from_records(project: Project, current_ids: set[str]) -> Review:
    """Compare every output with its record from before the last build (see module doc)."""
    rows = _rows(project.database)
    store = open_store(project)
    checks_by_hash = _checks_by_hash(_rows(project.database, ("candidate",)) + rows)
    by_job: dict[str, list[Row]] = {}
    for r in rows:
        by_job.setdefault(r.job, []).append(r)
    builds = [r.build_id for r in rows if r.build_id is not None]
    last_build = max(builds) if builds else None
    items: list[Item] = []
    unchanged = 0
    for job, history in by_job.items():
        cur = history[-1]
        earlier = [r for r in history if last_build is None or r.build_id is None
                   or r.build_id < last_build]
        if cur.build_id is not None and cur.build_id == last_build:
            base = earlier[-1] if earlier else None  # None: first recorded by the last build
        else:
            base = cur  # the last build did not touch it
        if cur.asset not in current_ids:
            item = Item(job, cur.asset, cur.output, "removed",
                        reasons=["no longer in the manifests"])
            _describe(item, cur, checks_by_hash)
            item.old = Side(store.get(cur.hash, touch=False), cur.hash, _recipe(cur.recipe))
            items.append(item)
            continue
        path = project.output_dir / cur.output
        data = path.read_bytes() if path.is_file() else None
        disk_hash = bytes_hash(data) if data is not None else None
        edited = data is not None and disk_hash != cur.hash
        if base is not None and base.hash == (disk_hash or cur.hash) and not edited:
            unchanged += 1
            continue
        status = "new" if base is None else "changed"
        item = Item(job, cur.asset, cur.output, status)
        _describe(item, cur, checks_by_hash)
        item.new = Side(data, disk_hash, _recipe(cur.recipe))
        if base is not None:
            item.old = Side(store.get(base.hash, touch=False), base.hash, _recipe(base.recipe))
            item.fields, item.reasons = explain(item.old.recipe, item.new.recipe)
            if not item.fields and base.hash != cur.hash:
                item.reasons.append("rebuilt from the same recipe: different bytes")
        else:
            item.reasons = ["first built"]
        if edited:
            if status == "new":
                item.status = "changed"
                item.old = Side(store.get(cur.hash, touch=False), cur.hash, item.new.recipe)
            item.reasons.append(f"hand edit: {cur.output} differs from its record")
        if data is None:
            item.reasons.append(f"output {cur.output} is missing on disk")
        items.append(item)
    return Review("the records before the last build", items, unchanged)


def candidates(project: Project) -> list[Candidate]:
    """The newest render of every seed candidate of a current asset (see candidates.py)."""
    from ..candidates import parse_job_id

    store = open_store(project)
    newest: dict[str, Row] = {}
    for r in _rows(project.database, ("candidate",)):
        newest[r.job] = r
    out = []
    for job, r in sorted(newest.items()):
        parsed = parse_job_id(job)
        if parsed is None:
            continue
        base_job, index = parsed
        out.append(Candidate(r.asset, base_job, index, r.seed, r.hash,
                             data=store.get(r.hash, touch=False)))
    return out


# -- git ---------------------------------------------------------------------------------------
def _embedded(data: bytes | None) -> dict[str, Any] | None:
    if not data:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            raw = im.text.get(RECIPE_CHUNK) if hasattr(im, "text") else None
        return json.loads(raw)["recipe"] if raw else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def from_git(project: Project, ref: str, current_ids: set[str]) -> Review:
    """Compare the output folder on disk with the one committed at ``ref``."""
    from .gitbase import GitBase

    base = GitBase(project, ref)
    committed = base.outputs()  # relative path -> blob sha
    rows = _rows(project.database)
    latest: dict[str, Row] = {}
    for r in rows:
        latest[r.output] = r
    checks_by_hash = _checks_by_hash(rows)
    root = project.output_dir
    now = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*.png"))
           if not p.name.startswith(".")} if root.is_dir() else {}
    want = [sha for rel, sha in committed.items()
            if rel not in now or base.blob_sha(now[rel].read_bytes()) != sha]
    blobs = base.read_blobs(want)
    items: list[Item] = []
    unchanged = 0
    for rel in sorted(committed.keys() | now.keys()):
        old_data = blobs.get(committed[rel]) if rel in committed else None
        if rel in committed and committed[rel] not in blobs:
            unchanged += 1
            continue
        new_data = now[rel].read_bytes() if rel in now else None
        row = latest.get(rel)
        key = row.job if row is not None else rel
        asset = row.asset if row is not None else Path(rel).stem
        status = "new" if old_data is None else "removed" if new_data is None else "changed"
        item = Item(key, asset, rel, status)
        if row is not None:
            _describe(item, row, checks_by_hash)
        old_recipe, new_recipe = _embedded(old_data), _embedded(new_data)
        if old_data is not None:
            item.old = Side(old_data, bytes_hash(old_data), old_recipe)
        if new_data is not None:
            item.new = Side(new_data, bytes_hash(new_data), new_recipe)
        if status == "changed":
            item.fields, item.reasons = explain(old_recipe, new_recipe)
            if row is not None and item.new and item.new.hash != row.hash:
                item.reasons.append(f"hand edit: {rel} differs from its record")
            elif not item.fields:
                item.reasons.append("same recipe, different bytes (edited by hand?)")
        elif status == "removed":
            item.reasons = ["no longer in the manifests" if asset not in current_ids
                            else f"output {rel} removed"]
        else:
            item.reasons = [f"not in {ref}"]
        if not item.prompt and new_recipe:
            item.prompt, item.seed = str(new_recipe.get("prompt", "")), new_recipe.get("seed")
        items.append(item)
    return Review(f"git {ref}", items, unchanged)


def latest_checks(db: Path, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """job id → the quality checks of its newest generation that ran them (``build --json``)."""
    if not job_ids or not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out: dict[str, dict[str, Any]] = {}
    try:
        for i in range(0, len(job_ids), 500):
            chunk = job_ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for job, metrics in conn.execute(
                    "SELECT job_id, metrics_json FROM generations WHERE id IN (SELECT MAX(id)"
                    f" FROM generations WHERE job_id IN ({marks}) AND status IN ('ok', 'failed')"
                    " GROUP BY job_id)", chunk):
                found = _checks(metrics)
                if found:
                    out[job] = found
    finally:
        conn.close()
    return out
