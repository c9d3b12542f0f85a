"""The no-op stamp: what the last build that found nothing to do depended on, so that the next
``assetforge build`` of an unchanged project answers with a ``stat`` per file, not a plan.

Like ninja's log: a build that planned every asset and found each up to date writes, beside
the database, every file and folder that plan read (the config, the manifests and the result
of their globs, each file a plugin hashed through ``Project.hash_file`` or named with
``Project.note_read`` and the folders holding them, the plugins' and AssetForge's own source
files, each ``sys.path`` folder, the database) with its size and mtime, and each output with
the size and mtime its record holds. While all of them still stat the same, and no other
command holds or died holding the project lock, the plan would be the same no-op: ``holds``
says how many assets are up to date and nothing is imported, opened or written.

An optimisation only: a missing, damaged or foreign stamp, or any difference, is a full plan
(which writes a new stamp when it is a no-op again). A file changed within ``RACY_NS`` of the
stamp could change again within the same mtime tick, so such a stamp is not written.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from .layout import CONFIG_NAME, DEFAULT_DATABASE, config_root, static_prefix

if TYPE_CHECKING:
    from .plan import Plan
    from .plugins import Plugins
    from .project import Project

FILE_NAME = "noop-stamp.bin"
STAMP_VERSION = 1
_MAGIC = b"AFNS1\n"
_ABSENT = (-1, -1)
# Environment that may change a plan: AssetForge's own, where the hub cache lives, and
# which GPUs ``device = "auto"`` sees.
_ENV_PREFIXES = ("ASSETFORGE_", "HF_", "HUGGINGFACE_")
_ENV_NAMES = ("HOME", "XDG_CACHE_HOME", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")
LOCK_NAME = "lock"  # lock.py's


def _context(root: str, cache_override: Any) -> list[Any]:
    from . import __version__

    env = sorted((k, v) for k, v in os.environ.items()
                 if k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES)
    # sys.path[0] is the script's folder or the working directory, and sys.executable the
    # name it was started by (python, python3): neither says which installation this is
    return [STAMP_VERSION, __version__, sys.version, sys.prefix, sys.path[1:], env, root,
            None if cache_override is None else str(cache_override)]


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return _ABSENT
    return st.st_size, st.st_mtime_ns


def summary_line(assets: int) -> str:
    """What ``build`` prints for a no-op (as ``print_result`` words it)."""
    return f"0 built, {assets} up to date, 0 failed"


# -- reading -----------------------------------------------------------------------------------
def quick(start: str) -> int | None:
    """``holds`` for the project around ``start``, found without loading it: the config is
    parsed only when it names its own database (the stamp lies beside the database)."""
    root = config_root(start)
    if root is None:
        return None
    database = DEFAULT_DATABASE
    try:
        with open(os.path.join(root, CONFIG_NAME), "rb") as f:
            raw = f.read()
        if b"database" in raw:
            import tomllib

            database = tomllib.loads(raw.decode()).get("project", {}).get("database")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(database, str):
        return None
    return holds(root, os.path.dirname(os.path.join(root, database)))


def holds(root: str, state_dir: str, cache_override: Any = None) -> int | None:
    """The number of assets of the last no-op build when nothing it depended on changed;
    None when a plan must answer (no stamp, any difference, or a build holds the lock)."""
    try:
        with open(os.path.join(state_dir, FILE_NAME), "rb") as f:
            raw = f.read()
    except OSError:
        return None
    head = len(_MAGIC) + 32
    if raw[:len(_MAGIC)] != _MAGIC or hashlib.sha256(raw[head:]).digest() != raw[
            len(_MAGIC):head]:
        return None
    try:
        context, files, sizes, mtimes, assets, database, wal = marshal.loads(raw[head:])
        if context != _context(root, cache_override) or _wal(database) != wal:
            return None
    except (ValueError, EOFError, TypeError):
        return None
    if _lock_busy(state_dir):
        return None
    st = os.stat
    try:
        for name, size, mtime in zip(files, sizes, mtimes, strict=True):
            try:
                s = st(name)
            except OSError:
                if size != -1:
                    return None
                continue
            if s.st_size != size or s.st_mtime_ns != mtime:
                return None
    except (TypeError, ValueError):
        return None
    return assets if type(assets) is int else None


def _wal(database: str) -> tuple[int, int]:
    """The stat of the database's write-ahead log, absent and empty alike (a closed
    connection may leave it either way): a write grows it, or its checkpoint changes the
    database's own stat."""
    size, mtime = _stat(database + "-wal")
    return (size, mtime) if size > 0 else (0, 0)


def _lock_busy(state_dir: str) -> bool:
    """A build runs now, or one died holding the lock (the next build recovers): plan."""
    try:
        import fcntl
    except ImportError:  # Windows: the full path asks lock.py
        return True
    try:
        fd = os.open(os.path.join(state_dir, LOCK_NAME), os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        return b'"held"' in os.read(fd, 4096)
    finally:
        os.close(fd)  # and with it the shared lock


# -- writing -----------------------------------------------------------------------------------
def write(project: Project, plugins: Plugins, plan: Plan) -> bool:
    """After a full build that found every asset up to date (and has closed the database):
    write the stamp, or remove a stale one when this plan cannot be stamped. Returns whether
    a stamp was written."""
    path = project.state_dir / FILE_NAME
    entries = _entries(project, plugins, plan)
    if entries is None:
        path.unlink(missing_ok=True)
        return False
    files = sorted(entries)
    payload = marshal.dumps([_context(str(project.root), project.cache_dir_override), files,
                             [entries[f][0] for f in files], [entries[f][1] for f in files],
                             len(plan.assets), str(project.database),
                             _wal(str(project.database))])
    try:  # in place, not renamed: a rename changes the folder's mtime, which may be watched;
        # a torn write fails the checksum, so a reader then plans
        with open(path, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
    except OSError:
        path.unlink(missing_ok=True)
        return False
    return True


def _entries(project: Project, plugins: Plugins, plan: Plan) -> dict[str, tuple[int, int]] | None:
    """Every file and folder the plan depended on → (size, mtime_ns); None when the plan
    cannot be stamped (not every asset up to date, a file changed just now)."""
    outputs = _outputs(project, plan)
    if outputs is None:
        return None
    from .plancache import RACY_NS

    entries: dict[str, tuple[int, int]] = {}
    racy_since = time.time_ns() - RACY_NS
    for name in _watched(project, plugins, plan):
        found = entries[name] = _stat(name)
        if found[1] > racy_since:
            return None
    db = str(project.database)
    found = entries[db] = _stat(db)
    if max(found[1], _wal(db)[1]) > racy_since:
        return None
    # As the plan's check_output does: an output is as built while it stats as recorded (one
    # touched since, same bytes, is hashed by each plan; here it never matches: a plan each time)
    entries.update(outputs)
    return entries


def _outputs(project: Project, plan: Plan) -> dict[str, tuple[int, int]] | None:
    """Each output's (size, mtime_ns) as its record holds it; None unless every job is up
    to date by its record."""
    from .nodes import StepJob

    prefix = project.output_prefix
    out: dict[str, tuple[int, int]] = {}
    for a in plan.assets:
        if a.status != "up-to-date" or a.spec.get("candidates"):
            return None
        for jp in a.jobs:
            if jp.status != "up-to-date" or jp.embedded is not None:
                return None
            if isinstance(jp.job, StepJob):
                for rel, (_digest, size, mtime) in (jp.job.files or {}).items():
                    out[prefix + rel] = (size, mtime)
            elif jp.group is None:
                last = jp.last
                if last is None or last.output_path != jp.job.output:
                    return None
                out[prefix + jp.job.output] = (last.output_size, last.output_mtime_ns)
    return out


def _watched(project: Project, plugins: Plugins, plan: Plan) -> set[str]:
    """The files and folders whose change may change a plan."""
    from .manifest import manifest_files

    names = {str(project.config_path), *map(str, manifest_files(project))}
    poses = [anim.pattern for a in plan.assets
             for anim in (a.spec.animations or {}).values() if anim.pattern]
    names.update(_glob_folders(project, [*project.manifest_globs, *poses]))
    names.update(project.reads)
    names.update(project.read_folders)  # a file added beside one (a pose glob, a model folder)
    from .entrypoints import distribution_folders

    names.update(distribution_folders())  # a plugin installed or removed there
    from . import __file__ as core

    sources = {os.path.dirname(core)}
    for _name, module in plugins.pm.list_name_plugin():
        file = getattr(module, "__file__", None)
        if file:
            sources.add(os.path.dirname(file) if file.endswith("__init__.py") else file)
    if project.plugins_dir is not None:
        sources.add(str(project.plugins_dir))
    for source in sources:
        names.update(_tree(source))
    names.discard(str(project.state_dir))  # each build writes there (the lock, this stamp)
    return names


def _glob_folders(project: Project, patterns: list[str]) -> list[str]:
    """Every folder a glob (of manifests, of poses) may look in: a file added or removed
    there changes its mtime. Not the state folder, which each build writes."""
    state = str(project.state_dir)
    out = []
    for pattern in patterns:
        pattern = pattern.replace("\\", "/")
        prefix = static_prefix(pattern)
        base = os.path.join(str(project.root), prefix) if prefix else str(project.root)
        rest = pattern[len(prefix) + 1:] if prefix else pattern
        if "/" not in rest and "**" not in rest:  # a wildcard in the file name only
            out.append(base)
            continue
        for folder, dirs, _files in os.walk(base):
            dirs[:] = [d for d in dirs if os.path.join(folder, d) != state]
            out.append(folder)
    return out


def _tree(top: str) -> list[str]:
    """A source file, or a folder and every folder and ``.py`` file under it."""
    if not os.path.isdir(top):
        return [top]
    out = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        out.append(folder)
        out += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    return out
