"""Outputs that prove themselves: records rebuilt from the recipe embedded in each PNG.

A fresh clone that commits its outputs has no database, yet every PNG carries its recipe and
recipe hash (``outputs.RECIPE_CHUNK``). Planning reads that chunk for jobs without a record, so
``status`` tells up-to-date from stale (``embedded.py`` reads it); ``adopt`` then writes an
``adopted`` record per file so the next plan takes the fast stat-only path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import JobPlan
    from .project import Project


def adopt(project: Project, store: Any, jobs: list[JobPlan]) -> int:
    """Write an ``adopted`` record for each job whose output proved its recipe (``jp.embedded``).

    Records are written only under the project lock: ``status`` run while a build writes
    would otherwise adopt an output the build is recording too. When another process holds
    the lock, nothing is adopted (the next command does it). Returns the count.
    """
    from .lock import LockBusy, ProjectLock

    if ProjectLock.held_here(project):
        return _adopt(project, store, jobs)
    lock = ProjectLock(project, "status", wait=False)
    try:
        lock.acquire()
    except LockBusy:
        return 0
    try:
        return _adopt(project, store, jobs)
    finally:
        lock.release()


def _adopt(project: Project, store: Any, jobs: list[JobPlan]) -> int:
    """The file is hashed and kept in the output cache like any output. Jobs whose file
    changed since planning read it, or that got a record since (a build that held the lock),
    are skipped."""
    from .db import Generation
    from .hashing import bytes_hash, canonical_json
    from .records import LastBuild, latest_builds
    from .stores import open_store

    objects = open_store(project)
    recorded = latest_builds(project.database)
    rows: list[tuple[JobPlan, Generation]] = []
    for jp in jobs:
        emb = jp.embedded
        if emb is None or jp.job.job_id in recorded:
            continue
        path = project.output_dir / jp.job.output
        try:
            data = path.read_bytes()
            st = path.stat()
        except OSError:
            continue
        if (st.st_size, st.st_mtime_ns) != (emb.size, emb.mtime_ns):
            continue
        digest = bytes_hash(data)
        try:
            objects.put(data, digest)
            objects.set_ref(emb.recipe_hash, digest)
        except OSError:
            pass  # an unreachable remote cache: the record is what adoption needs
        recipe = emb.recipe
        plugins = recipe.get("plugins") or {}
        gen = recipe.get("generator") or {}
        versions = {p: (v or {}).get("version") for p, v in plugins.items()}
        if gen.get("name"):
            versions[gen["name"]] = gen.get("version")
        rows.append((jp, Generation(
            asset_id=jp.job.asset_id, job_id=jp.job.job_id, kind=jp.job.kind,
            view=jp.job.view, status="adopted", recipe_hash=emb.recipe_hash,
            recipe_json=canonical_json(recipe), prompt=str(recipe.get("prompt", "")),
            negative_prompt=str(recipe.get("negative_prompt", "")),
            seed=int(recipe.get("seed", 0) or 0), model_name=jp.job.model,
            model_hash=str((recipe.get("model") or {}).get("hash", "")),
            plugin_versions_json=json.dumps(versions, sort_keys=True),
            output_path=jp.job.output, output_hash=digest, output_size=st.st_size,
            output_mtime_ns=st.st_mtime_ns,
            metrics_json=json.dumps({"adopted_from": "embedded recipe"}),
        )))
    store.add_all([row for _jp, row in rows])
    for jp, row in rows:
        jp.last = LastBuild(jp.job.job_id, row.recipe_hash, jp.job.output, row.output_hash or "",
                            row.output_size or 0, row.output_mtime_ns or 0, row.id)
        jp.embedded = None
    return len(rows)
