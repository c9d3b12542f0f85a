"""Output files: atomic PNG writes with A1111-style parameters and the full recipe embedded."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .embedded import RECIPE_CHUNK, read_embedded
from .hashing import bytes_hash, canonical_json, untag
from .tmpfiles import create_temp

if TYPE_CHECKING:
    from PIL import Image

    from .interfaces import Job

SAMPLER_NAMES = {
    "euler": "Euler", "euler_a": "Euler a", "ddim": "DDIM", "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_karras": "DPM++ 2M Karras", "unipc": "UniPC", "default": "Default",
}


@dataclass(frozen=True)
class Written:
    path: Path
    hash: str
    size: int
    mtime_ns: int


def a1111_parameters(job: Job, model_hash: str, model_name: str) -> str:
    """The ``parameters`` text AUTOMATIC1111 writes, so other tools can read our PNGs."""
    fmt_cfg = f"{job.guidance:g}"
    lines = [job.prompt]
    if job.negative_prompt:
        lines.append(f"Negative prompt: {job.negative_prompt}")
    lines.append(
        f"Steps: {job.steps}, Sampler: {SAMPLER_NAMES.get(job.scheduler, job.scheduler)}, "
        f"CFG scale: {fmt_cfg}, Seed: {job.seed}, Size: {job.width}x{job.height}, "
        f"Model hash: {untag(model_hash)[:10]}, Model: {model_name}")
    return "\n".join(lines)


def png_bytes(image: Image.Image, parameters: str, recipe: dict[str, Any], key: str) -> bytes:
    """Encode deterministically: same pixels and recipe → same bytes on every machine."""
    import io

    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", parameters)
    info.add_itxt(RECIPE_CHUNK, canonical_json({"hash": key, "recipe": recipe}))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


# The mode every output gets (``tmpfiles.create_temp``: 0666 less the umask, as any file the
# user creates; mkstemp would make 0600). Read once, at import: reading the umask means
# setting it, which must not race the restore threads' writes.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def write_atomic(path: Path, data: bytes, digest: str | None = None,
                 sync: bool = True) -> Written:
    """Write via a temp file in the same folder + fsync + ``os.replace``: readers (and a crash)
    see the old file or the new one, never a partial one. ``digest``: ``bytes_hash(data)``
    when the caller has it already (hashed once per output). ``sync=False``: no fsync here;
    the caller makes the file durable (``sync_files``) before it records it."""
    # A short prefix: the temp name must fit where the final name (up to NAME_MAX) fits.
    # Created with the user's mode (0666 less the umask) and the folder made only if missing.
    fd, tmp = create_temp(path.parent, f".{path.name[:32]}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
            st = os.fstat(f.fileno())  # a rename keeps size and mtime: no stat of the path
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Written(path, digest or bytes_hash(data), st.st_size, st.st_mtime_ns)


def sync_files(paths: list[Path]) -> None:
    """Make written files durable: one ``syncfs`` per file system they are on (Linux: one
    journal commit for a whole round of outputs), else an fsync of each."""
    syncfs = _syncfs()
    devices: dict[int, Path] = {}
    for p in paths:
        devices.setdefault(os.stat(p).st_dev, p)
    for first in devices.values():
        fd = os.open(first, os.O_RDONLY)
        try:
            if syncfs is not None and syncfs(fd) == 0:
                continue
        finally:
            os.close(fd)
        for p in paths:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return


_SYNCFS: list[Any] = []


def _syncfs() -> Any:
    if not _SYNCFS:
        found = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                found = ctypes.CDLL(None, use_errno=True).syncfs
            except (OSError, AttributeError):
                found = None
        _SYNCFS.append(found)
    return _SYNCFS[0]


def read_embedded_recipe(path: Path) -> tuple[str, dict[str, Any]] | None:
    """(recipe hash, recipe) embedded in an AssetForge PNG, or None."""
    found = read_embedded(path)
    return (found.recipe_hash, found.recipe) if found else None


def clean_temp_files(folder: Path) -> int:
    """Remove temp files a killed build left behind (``.NAME.*.tmp``)."""
    n = 0
    if folder.is_dir():
        for p in folder.rglob(".*.tmp"):
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n
