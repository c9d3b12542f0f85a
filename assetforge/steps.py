"""Building the graph's other nodes: file-sourced images, derived files, step-built assets.

A file-sourced asset's output is the file's pixels (re-encoded with the recipe chunk), its
size kept; post-processors still run. A derived file is made from its primary output *as it is
on disk*. A step-built asset writes a group of files, published together: every file goes to
a temp file first, then each is renamed into place, then the caller records them; a crash
between renames leaves files whose hashes are not recorded, so the next build rebuilds or
restores them.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PluginError, UserError
from .hashing import bytes_hash, canonical_json
from .nodes import DerivedJob, GroupFileJob, StepJob
from .outputs import Written

if TYPE_CHECKING:
    from PIL import Image

    from .engine import Builder
    from .plan import JobPlan
    from .project import Project


def open_image(path: Path) -> Image.Image:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return im.copy()


def file_image(jp: JobPlan) -> Image.Image:
    """A file-sourced job's image, exactly as in its file; the job learns the file's size."""
    image = open_image(jp.job.inputs["image"].path)
    jp.job.width, jp.job.height = image.size
    return image


def derived_png(jp: JobPlan, project: Project) -> bytes:
    """Make one derived file from its primary output on disk."""
    from .outputs import png_bytes

    job = jp.job
    assert isinstance(job, DerivedJob) and job.step is not None and job.file is not None
    source = job.inputs["source"]
    image = open_image(source.path)
    try:
        out = job.step.make(image, job.file, project)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - attributed to the step
        raise PluginError(job.step.name, e) from e
    text = f"{job.step.name} {job.file.name} of {source.ref} ({source.hash})"
    return png_bytes(out, text, jp.recipe or {}, jp.key or "")


def run_step(jp: JobPlan, project: Project) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Run a step-built asset's step: its files (path → bytes) and the state it keeps.
    For one of its other files (``verify --regenerate``), the step of its asset."""
    job = jp.job.main if isinstance(jp.job, GroupFileJob) else jp.job
    assert isinstance(job, StepJob) and job.step is not None
    try:
        result = job.step.run(job.spec, job.inputs, project, job.state)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001
        raise PluginError(job.step.name, e) from e
    if not result.files:
        raise PluginError(job.step.name, ValueError("the step wrote no files"))
    for rel in result.files:
        check_output_path(project, rel, job.step.name)
    return dict(result.files), dict(result.state)


def check_output_path(project: Project, rel: str, who: str) -> Path:
    path = (project.output_dir / rel).resolve()
    if rel.startswith(("/", "\\")) or ".." in Path(rel).parts or os.path.commonpath(
            [path, project.output_dir]) != str(project.output_dir):
        raise PluginError(who, ValueError(f"output {rel!r} is not inside output_dir"))
    return path


def group_manifest(files: dict[str, bytes], state: dict[str, Any]) -> bytes:
    """The object stored under a step-built asset's recipe: each file's hash, and the state."""
    # a list, not a table: canonical JSON sorts keys, and the first file is the main one
    return canonical_json({"files": [[p, bytes_hash(d)] for p, d in files.items()],
                           "state": state}).encode("utf-8")


def read_group_manifest(data: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    obj = json.loads(data)
    return {p: h for p, h in obj["files"]}, dict(obj.get("state") or {})


def publish_group(project: Project, files: dict[str, bytes]) -> dict[str, Written]:
    """Temp files first (written, fsynced), then rename each into place."""
    temps: list[tuple[str, Path, str]] = []
    try:
        for rel, data in files.items():
            path = check_output_path(project, rel, "step")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append((rel, path, tmp))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        written = {}
        for rel, path, tmp in temps:
            os.replace(tmp, path)
            st = path.stat()
            written[rel] = Written(path, bytes_hash(files[rel]), st.st_size, st.st_mtime_ns)
        return written
    except BaseException:
        for _rel, _path, tmp in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


def build_step(builder: Builder, jp: JobPlan, build_id: int, restored: set[str]) -> str | None:
    """Build (or restore) a step-built asset: publish its files together, then record
    one row per file; the main row keeps the file list and the step's state."""
    from .environment import environment

    job = jp.job
    started = time.perf_counter()
    metrics: dict[str, Any] = {}
    base = builder._row_fields(jp, build_id) | dict(device="none", environment_json=json.dumps(
        environment("none"), sort_keys=True))
    try:
        got = restore_group(builder, jp.restore_from) if jp.restore_from else None
        status = "restored" if got else "ok"
        files, state = got or run_step(jp, builder.project)
        if got:
            metrics["restored_from"] = jp.restore_from
        else:
            keep_group(builder, jp, files, state, metrics)
        written = publish_group(builder.project, files)
    except (UserError, PluginError, OSError) as e:
        builder.store.insert_generations([base | dict(
            status="failed", error=str(e), error_plugin=getattr(e, "plugin", None),
            duration_s=time.perf_counter() - started)])
        return str(e)
    main = next(iter(files))
    listing = [[p, w.hash, w.size, w.mtime_ns] for p, w in written.items()]  # main first
    took = time.perf_counter() - started
    rows = [base | dict(status=status, job_id=job.job_id if p == main else f"{job.job_id}/{p}",
                        output_path=p, output_hash=w.hash, output_size=w.size,
                        output_mtime_ns=w.mtime_ns, duration_s=took,
                        metrics_json=json.dumps(
                            metrics | {"step_files": listing, "step_state": state}
                            if p == main else {"step_file_of": job.job_id}, sort_keys=True))
            for p, w in written.items()]
    builder.store.insert_generations(rows)
    if status == "restored":
        restored.add(job.job_id)
    return None


def keep_group(builder: Builder, jp: JobPlan, files: dict[str, bytes], state: dict[str, Any],
               metrics: dict[str, Any]) -> None:
    try:
        objects = builder.objects
        for data in files.values():
            objects.put(data)
        digest = objects.put(group_manifest(files, state))
        if jp.key:
            objects.set_ref(jp.key, digest)
    except OSError as e:
        metrics["object_store_error"] = f"{type(e).__name__}: {e}"


def restore_group(builder: Builder, digest: str
                  ) -> tuple[dict[str, bytes], dict[str, Any]] | None:
    objects = builder.objects
    raw = objects.get(digest)
    if raw is None:
        return None
    hashes, state = read_group_manifest(raw)
    files = {}
    for path, h in hashes.items():
        data = objects.get(h)
        if data is None:
            return None
        files[path] = data
    return files, state
