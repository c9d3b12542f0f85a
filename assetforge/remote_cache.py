"""A remote output store on object storage (S3, GCS, … through fsspec), behind the same
interface as the local ``objects.ObjectStore``.

Layout under the URL (``s3://bucket/prefix``)::

    sha256/ab/abcdef…                 output bytes, named by their sha256
    refs/sha256/12/1234…/abcdef…      empty: recipe hash 1234… produced output abcdef…
    tmp/HOST-PID-RANDOM               uploads in flight, copied to their final key when complete

A ref's target is in its *name*, so one listing answers thousands of recipes (a fresh CI
runner restoring a whole project asks once, not once per asset); a small lookup lists each
recipe's prefix instead, all requests in one concurrent batch. Objects are uploaded under a
temporary key and then published by a server-side copy, so a reader never sees a partial
object; two machines publishing one object write identical bytes (the name is the hash), and
two refs of one recipe name equally valid outputs. Every read re-hashes: a damaged object is
never served, and is deleted (it can never be right again).

Credentials come only from the environment and the backend's usual files (``AWS_*``
variables, ``~/.aws``, GCP application-default credentials); ``[project] cache_options``
refuses them. The first failure to reach the store is reported once on stderr and the store
goes offline for the rest of the process: the build generates what it could not restore.
Imported only when a URL is configured (fsspec and s3fs are optional).
"""

from __future__ import annotations

import os
import platform
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from .errors import UserError
from .hashing import ALGO, bytes_hash
from .objects import StoredObject, _split

BATCH = 256  # concurrent requests per batch
LIST_ALL_AT = 64  # look up this many recipes or more: list every ref instead of each prefix
TMP_MAX_AGE_S = 24 * 3600
# Fail fast on an unreachable endpoint (botocore's default retries for minutes).
_S3_DEFAULTS: dict[str, Any] = {"config_kwargs": {"connect_timeout": 5,
                                                  "retries": {"max_attempts": 2}}}
_offline: dict[str, str] = {}  # url → why: stays offline for the rest of the process


_stores: dict[tuple[str, str], RemoteObjectStore] = {}


def remote_store(url: str, options: dict[str, Any]) -> RemoteObjectStore:
    """One store (one connection pool) per URL and options for the process."""
    from .hashing import canonical_json

    key = (url, canonical_json(options))
    if key not in _stores:
        _stores[key] = RemoteObjectStore(url, options)
    return _stores[key]


class CacheUnavailable(Exception):
    """The remote store could not be reached or refused access."""


def _redact(message: str) -> str:
    """Never print a credential, even if a library puts one in an error message."""
    for var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
                "GOOGLE_APPLICATION_CREDENTIALS"):
        value = os.environ.get(var)
        if value and len(value) >= 4:
            message = message.replace(value, "***")
    return message


class RemoteObjectStore:
    """Objects and refs under an fsspec URL; see the module docstring."""

    remote = True

    def __init__(self, url: str, options: dict[str, Any] | None = None):
        import fsspec  # optional: only a configured URL gets here

        self.url = url.rstrip("/")
        protocol, _, rest = self.url.partition("://")
        opts = dict(_S3_DEFAULTS) if protocol in ("s3", "s3a") else {}
        opts.update(options or {})
        try:
            self.fs = fsspec.filesystem(protocol, skip_instance_cache=True,
                                        use_listings_cache=False, **opts)
        except ImportError as e:
            raise UserError(f"cache_dir {self.url}: {e} (install the backend, e.g. "
                            "pip install 'assetforge[s3]')") from e
        self.root = rest.rstrip("/")

    # -- reachability ------------------------------------------------------------------------
    @property
    def offline(self) -> bool:
        return self.url in _offline

    def _fail(self, err: BaseException) -> None:
        if self.url not in _offline:
            why = _redact(f"{type(err).__name__}: {err}")
            _offline[self.url] = why
            print(f"note: output cache {self.url} is unreachable ({why}); building without "
                  "it", file=sys.stderr)

    # -- keys --------------------------------------------------------------------------------
    def object_key(self, digest: str) -> str:
        algo, hexd = _split(digest)
        return f"{self.root}/{algo}/{hexd[:2]}/{hexd}"

    def _ref_prefix(self, recipe_hash: str) -> str:
        algo, hexd = _split(recipe_hash)
        return f"{self.root}/refs/{algo}/{hexd[:2]}/{hexd}"

    def _digest_of(self, key: str) -> str:
        return f"{ALGO}:{key.rsplit('/', 1)[-1]}"

    # -- batched requests --------------------------------------------------------------------
    def _batch(self, method: str, args: list[Any],
               kwargs: list[dict[str, Any]] | None = None) -> list[Any]:
        """Call ``method`` for each argument concurrently (async backends) or in turn; each
        result is the value or the exception. Raises CacheUnavailable when offline or when a
        call failed for any reason other than a missing key."""
        if self.offline:
            raise CacheUnavailable(_offline[self.url])
        if not args:
            return []
        kws = kwargs or [{} for _ in args]
        try:
            if getattr(self.fs, "async_impl", False):
                from fsspec.asyn import _run_coros_in_chunks, sync

                coros = [getattr(self.fs, "_" + method)(a, **k) for a, k in zip(args, kws,
                                                                                 strict=True)]
                out = sync(self.fs.loop, _run_coros_in_chunks, coros, batch_size=BATCH,
                           return_exceptions=True)
            else:
                out = []
                for a, k in zip(args, kws, strict=True):
                    try:
                        out.append(getattr(self.fs, method)(a, **k))
                    except Exception as e:  # noqa: BLE001 - sorted below
                        out.append(e)
        except Exception as e:  # noqa: BLE001 - the event loop or the client itself
            self._fail(e)
            raise CacheUnavailable(str(e)) from e
        for res in out:
            if isinstance(res, BaseException) and not isinstance(res, FileNotFoundError):
                self._fail(res)
                raise CacheUnavailable(str(res)) from res
        return out

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One request; missing keys raise FileNotFoundError, other failures go offline."""
        if self.offline:
            raise CacheUnavailable(_offline[self.url])
        try:
            return getattr(self.fs, method)(*args, **kwargs)
        except FileNotFoundError:
            raise
        except Exception as e:  # noqa: BLE001
            self._fail(e)
            raise CacheUnavailable(str(e)) from e

    # -- objects -----------------------------------------------------------------------------
    def has(self, digest: str) -> bool:
        return bool(self.has_many([digest]))

    def has_many(self, digests: list[str]) -> set[str]:
        try:
            infos = self._batch("info", [self.object_key(d) for d in digests])
        except (CacheUnavailable, ValueError):
            return set()
        return {d for d, i in zip(digests, infos, strict=True)
                if not isinstance(i, BaseException)}

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Upload under a temporary key, then publish by a server-side copy (a reader never
        sees a partial object). An object already there is not uploaded again."""
        digest = digest or bytes_hash(data)
        key = self.object_key(digest)
        try:
            self._call("info", key)
            return digest
        except FileNotFoundError:
            pass
        except CacheUnavailable as e:
            raise OSError(f"output cache {self.url} unreachable") from e
        tmp = f"{self.root}/tmp/{platform.node()}-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            self._call("pipe_file", tmp, data)
            try:
                self._call("copy", tmp, key)
            finally:
                self._call("rm", tmp)
        except (CacheUnavailable, FileNotFoundError) as e:
            raise OSError(f"output cache {self.url}: upload failed") from e
        return digest

    def get(self, digest: str, touch: bool = True) -> bytes | None:
        return self.get_many([digest]).get(digest)

    def get_many(self, digests: list[str]) -> dict[str, bytes | None]:
        """Fetch objects in one concurrent batch; a damaged one is None (and deleted)."""
        out: dict[str, bytes | None] = dict.fromkeys(digests)
        try:
            keys = [self.object_key(d) for d in digests]
            datas = self._batch("cat_file", keys)
        except (CacheUnavailable, ValueError):
            return out
        damaged = []
        for digest, key, data in zip(digests, keys, datas, strict=True):
            if isinstance(data, bytes | bytearray):
                if bytes_hash(bytes(data)) == digest:
                    out[digest] = bytes(data)
                else:
                    damaged.append(key)
        if damaged:
            try:
                self._batch("rm_file", damaged)
            except CacheUnavailable:
                pass
        return out

    def touch(self, digest: str) -> None:
        """No-op: object storage keeps no access time; an object's age is its upload."""

    def remove(self, digest: str) -> None:
        self.remove_many([digest])

    def remove_many(self, digests: Iterable[str]) -> None:
        keys = [self.object_key(d) for d in digests]
        if keys:
            self._must("rm", keys)

    def objects(self) -> Iterator[StoredObject]:
        for key, info in sorted(self._find(f"{self.root}/{ALGO}").items()):
            name = key.rsplit("/", 1)[-1]
            if not name.startswith("."):
                yield StoredObject(f"{ALGO}:{name}", key, int(info.get("size") or 0),  # type: ignore[arg-type]
                                   _mtime(info))

    def _find(self, path: str) -> dict[str, dict[str, Any]]:
        try:
            return self._must("find", path, detail=True) or {}
        except FileNotFoundError:
            return {}

    def _must(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A request maintenance (gc) cannot do without: unreachable is a usage error."""
        try:
            return self._call(method, *args, **kwargs)
        except CacheUnavailable as e:
            raise UserError(f"output cache {self.url} is unreachable: "
                            f"{_offline.get(self.url, e)}") from None

    # -- refs --------------------------------------------------------------------------------
    def set_ref(self, recipe_hash: str, digest: str) -> None:
        """An empty object named by recipe and output: nothing to be partial, so no temp key."""
        _split(digest)
        key = f"{self._ref_prefix(recipe_hash)}/{digest.partition(':')[2]}"
        try:
            self._call("pipe_file", key, b"")
        except (CacheUnavailable, FileNotFoundError) as e:
            raise OSError(f"output cache {self.url}: ref upload failed") from e

    def ref(self, recipe_hash: str) -> str | None:
        return self.refs_for([recipe_hash]).get(recipe_hash)

    def refs_for(self, recipe_hashes: list[str]) -> dict[str, str]:
        """recipe hash → output hash for those recipes with a ref, in one batch of requests."""
        if not recipe_hashes:
            return {}
        try:
            if len(recipe_hashes) >= LIST_ALL_AT:
                wanted = set(recipe_hashes)
                return {k: d for k, d, _ in self.ref_entries() if k in wanted}
            listings = self._batch("find", *self._ref_listings(recipe_hashes))
        except CacheUnavailable:
            return {}
        out = {}
        for recipe, found in zip(recipe_hashes, listings, strict=True):
            if isinstance(found, list) and found:
                out[recipe] = self._digest_of(sorted(found)[0])
        return out

    def _ref_listings(self, recipe_hashes: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
        """Arguments of one listing per recipe: with a server-side prefix where the backend
        takes one (one request each; a plain ``find`` of a missing folder costs three)."""
        if self.fs.protocol in ("s3", "s3a", "gs", "gcs") or "s3" in self.fs.protocol:
            pairs = [self._ref_prefix(k).rsplit("/", 1) for k in recipe_hashes]
            return [p[0] for p in pairs], [{"prefix": p[1] + "/"} for p in pairs]
        return [self._ref_prefix(k) for k in recipe_hashes], [{} for _ in recipe_hashes]

    def ref_entries(self) -> Iterator[tuple[str, str, str]]:
        """(recipe hash, output hash, key) of every ref."""
        for key in self._find(f"{self.root}/refs/{ALGO}"):
            parts = key.rsplit("/", 2)
            if len(parts) == 3:
                yield f"{ALGO}:{parts[1]}", self._digest_of(key), key

    def remove_refs(self, keys: list[str]) -> None:
        if keys:
            self._must("rm", keys)

    def find_restorable(self, known: dict[str, str | None]) -> dict[str, str]:
        """recipe hash → an output hash in this store, for each recipe that has one.

        ``known``: the output the local records name for each recipe (None when none). Those
        are checked for existence, the rest read from refs: one batch each, never per job.
        """
        found = {}
        checked = [d for d in known.values() if d]
        present = self.has_many(checked) if checked else set()
        missing = []
        for key, digest in known.items():
            if digest and digest in present:
                found[key] = digest
            else:
                missing.append(key)
        found.update(self.refs_for(missing))
        return found

    # -- temp files --------------------------------------------------------------------------
    def stale_temp_files(self, max_age_s: float = TMP_MAX_AGE_S) -> list[str]:
        cutoff = time.time() - max_age_s
        return [k for k, info in self._find(f"{self.root}/tmp").items()
                if _mtime(info) < cutoff]

    def remove_temp_files(self, keys: list[str]) -> None:
        if keys:
            self._must("rm", keys)


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("LastModified") or info.get("mtime") or info.get("updated") or 0
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return float(value)
