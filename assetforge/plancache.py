"""The plan cache: what planning learned about each manifest file, so that an unchanged file
costs a stat and a lookup instead of a parse, a validation and a recipe per asset.

Per manifest file it keeps the parsed tables (keyed by the file's size and mtime, then by its
content hash) and, once a build validated and planned the file, per asset: what ``expand_spec``
added to its fields, the models its jobs use, the files its plugins hashed (``hash_file``)
and each job's recipe hash. Those plan entries hold only under the *context* they were made
in: the config, the plugins (names, versions, module files) and AssetForge's own version;
model identities and hashed files are compared per asset. An asset with image inputs, or of
a kind built by a step, is always planned in full (its inputs are hashed every time).

An optimisation only: a missing, unreadable, foreign or corrupt cache is a cold run. One file
(``plan-cache.bin`` beside the database), ``marshal`` of plain values behind a sha256 of the
payload: marshal never runs code, and the checksum turns any damage into a miss.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .interfaces import Generator, ModelIdentity
    from .plugins import Plugins
    from .project import Project

CACHE_VERSION = 1
FILE_NAME = "plan-cache.bin"
_MAGIC = b"AFPC1\n"


def context_key(project: Project, plugins: Plugins) -> str:
    """Everything every recipe and every validation of the project may depend on, hashed:
    AssetForge's version, the config, each plugin's name, version and module file's content,
    and the ``ASSETFORGE_*`` environment."""
    from . import __version__

    mods = []
    for name, module in sorted(plugins.pm.list_name_plugin(), key=lambda x: x[0]):
        file = getattr(module, "__file__", None)
        try:  # a plugin edited without a new version (a project plugin, an editable install)
            with open(file, "rb") as f:  # type: ignore[arg-type]
                digest = hashlib.sha256(f.read()).hexdigest()
        except (OSError, TypeError):
            digest = None
        mods.append([name, plugins._versions.get(name, ("0", ""))[0], file, digest])
    doc = {"v": CACHE_VERSION, "assetforge": __version__, "python": sys.version_info[:2],
           "config": project.config, "root": str(project.root),
           "output": project.output_prefix, "plugins": mods,
           "env": {k: v for k, v in os.environ.items() if k.startswith("ASSETFORGE_")}}
    text = json.dumps(doc, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class PlanCache:
    """Load once per plan; ``save`` after a plan that succeeded."""

    def __init__(self, project: Project, plugins: Plugins | None = None):
        self.project, self.plugins = project, plugins
        self.path = project.state_dir / FILE_NAME
        # None (no plugins given): a parse cache only; no plan entries used or written
        self.context = context_key(project, plugins) if plugins is not None else None
        self.files: dict[str, dict[str, Any]] = {}
        self.live: set[str] = set()  # the manifest files of the last load_specs
        self.dirty = False
        # model name → (generator, identity), shared with the planner (one identify per model)
        self.models: dict[str, tuple[Generator, ModelIdentity]] = {}
        # asset id → [delta, models, deps, keys] for assets of files whose entry holds
        self.hits: dict[str, list[Any]] = {}
        self.fresh: dict[str, list[Any]] = {}  # entries made by this plan, by asset id
        self.source: dict[str, str] = {}  # asset id → its manifest file (str)
        self._deps: dict[str, dict[str, str]] = {}  # asset id → files hashed while validating
        self._file_ok: dict[str, bool] = {}
        self._models_ok: dict[str, bool] = {}
        self._load()

    # -- the file on disk --------------------------------------------------------------------
    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except OSError:
            return
        head = len(_MAGIC) + 32
        if raw[:len(_MAGIC)] != _MAGIC or hashlib.sha256(raw[head:]).digest() != raw[
                len(_MAGIC):head]:
            return  # foreign or damaged: a cold run (and rewritten by save)
        try:
            data = marshal.loads(raw[head:])
        except (ValueError, EOFError, TypeError):
            return
        if type(data) is dict and data.get("version") == CACHE_VERSION and type(
                data.get("files")) is dict:
            self.files = data["files"]

    def save(self, live: set[str]) -> None:
        stale = set(self.files) - live
        if not (self.dirty or stale) or not self.path.parent.is_dir():
            return
        for k in stale:
            del self.files[k]
        try:
            payload = marshal.dumps({"version": CACHE_VERSION, "files": self.files})
        except ValueError:
            return  # a value marshal cannot write: keep the old cache, it is only a cache
        tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(_MAGIC + hashlib.sha256(payload).digest() + payload)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)

    # -- parsed tables -----------------------------------------------------------------------
    def parsed(self, path: Path, st: os.stat_result) -> dict | None:
        """The file's tables when its size and mtime are as cached."""
        e = self.files.get(str(path))
        if e is not None and e["size"] == st.st_size and e["mtime_ns"] == st.st_mtime_ns:
            return e["data"]
        return None

    def parsed_by_content(self, path: Path, st: os.stat_result, raw: bytes) -> dict | None:
        """The file's tables when its bytes are as cached (touched, or checked out again)."""
        e = self.files.get(str(path))
        if e is None or e["sha"] != hashlib.sha256(raw).digest():
            return None
        e["size"], e["mtime_ns"] = _signature(st)
        self.dirty = True
        return e["data"]

    def put_parsed(self, path: Path, st: os.stat_result, raw: bytes, data: dict) -> None:
        size, mtime_ns = _signature(st)
        self.files[str(path)] = {"size": size, "mtime_ns": mtime_ns,
                                 "sha": hashlib.sha256(raw).digest(), "data": data,
                                 "ctx": None, "assets": {}}
        self.dirty = True

    # -- plan entries ------------------------------------------------------------------------
    def validated(self, path: Path) -> bool:
        """Whether ``path`` (its tables as cached) was validated and planned under this
        context, and every model and hashed file its assets depend on is unchanged. Then
        its assets skip validation, and ``entry`` answers their recipes."""
        key = str(path)
        ok = self._file_ok.get(key)
        if ok is not None:
            return ok
        e = self.files.get(key)
        ok = (self.context is not None and e is not None and e["ctx"] == self.context
              and all(self._models_same(a[1]) and self._deps_same(a[2])
                      for a in e["assets"].values()))
        self._file_ok[key] = ok
        if ok:
            assert e is not None
            self.hits.update(e["assets"])
        return ok

    def _models_same(self, models: dict[str, str]) -> bool:
        for name, digest in models.items():
            same = self._models_ok.get(name)
            if same is None:
                same = self._models_ok[name] = self._identity(name) == digest
            if not same:
                return False
        return True

    def _deps_same(self, deps: dict[str, str]) -> bool:
        for path, digest in deps.items():
            try:
                if self.project.hash_file(Path(path)) != digest:
                    return False
            except (OSError, ValueError):
                return False
        return True

    def model(self, name: str) -> tuple[Generator, ModelIdentity]:
        """The generator and identity of model ``name`` (made once per plan)."""
        hit = self.models.get(name)
        if hit is None:
            assert self.plugins is not None
            cfg = self.project.models[name]
            gen = self.plugins.generator_for(cfg)
            hit = self.models[name] = (gen, gen.identify(cfg, self.project))
        return hit

    def _identity(self, name: str) -> str | None:
        try:
            return self.model(name)[1].hash
        except Exception:  # noqa: BLE001 - a model that cannot be identified: plan in full
            return None

    def entry(self, asset_id: str) -> list[Any] | None:
        """[delta, models, deps, keys] of an asset of a validated file; None: plan in full."""
        e = self.hits.get(asset_id)
        return e if e is not None and e[3] is not None else None

    def note_deps(self, asset_id: str, deps: dict[str, str]) -> None:
        """Files hashed while validating an asset (its recipe's are noted with ``add``)."""
        if deps:
            self._deps[asset_id] = deps

    def add(self, asset_id: str, source: Path, delta: dict[str, Any], models: dict[str, str],
            deps: dict[str, str], keys: list[str] | None) -> None:
        """A fully planned asset's entry, written to its file's entry by ``commit``.
        ``keys`` None: an asset planned in full every time (its deps still say when its file
        must be validated again)."""
        new = [delta, models, {**self._deps.get(asset_id, {}), **deps}, keys]
        if self.hits.get(asset_id) != new:
            self.fresh[asset_id] = new

    def commit(self, planned: list[Any]) -> None:
        """After a plan without a user error (``planned``: the specs planned): a file whose
        assets were all planned here gets this context's entries; a validated one gets its
        assets' new entries."""
        if self.context is None:
            return
        by_file: dict[str, list[str]] = {}
        for spec in planned:
            if spec.id in self.fresh:
                by_file.setdefault(str(spec.source.path), []).append(spec.id)
        for key, ids in by_file.items():
            e = self.files.get(key)
            if e is None:
                continue
            if self._file_ok.get(key):  # validated: its entries stay, the new ones join
                e["assets"].update((i, self.fresh[i]) for i in ids)
            elif len(ids) == _count(e):  # every asset of the file planned here
                e["assets"] = {i: self.fresh[i] for i in ids}
                e["ctx"] = self.context
            else:
                continue  # planned in part (``build ID``): its entry is left as it was
            self.dirty = True


RACY_NS = 2_000_000_000


def _signature(st: os.stat_result) -> tuple[int, int]:
    """(size, mtime_ns) to trust next time; a file changed in the last seconds is not trusted
    by its stat (an edit within the same clock tick keeps the mtime: git's "racy" files), so
    its bytes are hashed again until it is older."""
    if time.time_ns() - st.st_mtime_ns < RACY_NS:
        return -1, -1
    return st.st_size, st.st_mtime_ns


def _count(entry: dict[str, Any]) -> int:
    return sum(len(t) for t in entry["data"].values() if isinstance(t, dict))


def marshal_ok(value: Any) -> bool:
    try:
        marshal.dumps(value)
    except ValueError:
        return False
    return True
