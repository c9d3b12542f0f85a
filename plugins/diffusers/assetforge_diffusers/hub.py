"""Hugging Face hub models: find a snapshot in the local cache, or download one.

The cache layout is huggingface_hub's: ``<cache>/models--ORG--NAME/refs/<branch>`` holds a
commit id; ``snapshots/<commit>/<relpath>`` are symlinks to ``blobs/<etag>``, and an LFS file's
etag is the sha256 of its content, so weights are identified by their blob name without being
re-read. Environment variables are read at call time (huggingface_hub reads them at import).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from . import identity
from .identity import ModelFormatError

_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TRUE = {"1", "ON", "YES", "TRUE"}
# Never downloaded: other frameworks, precision variants; pickle weights only when allowed.
_IGNORE = ["*.msgpack", "*.h5", "*.onnx", "*.onnx_data", "*.pb", "*.ot", "*.gguf",
           "*.fp16.*", "*.bf16.*", "*.fp32.*", "*non_ema*", "*ema_only*"]
_IGNORE_PICKLE = ["*.bin", "*.ckpt", "*.pt", "*.pth"]


class NotCached(LookupError):
    """The snapshot is not (completely) in the local cache and may not be downloaded."""


def cache_dir() -> Path:
    """huggingface_hub's cache folder, from the environment as it is now."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.environ[var])).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def offline() -> bool:
    """True under HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE): never touch the network."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in _TRUE


def repo_folder(repo: str, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / ("models--" + repo.replace("/", "--"))


def cached_snapshot(repo: str, revision: str | None, cache: Path | None = None) -> Path:
    """The complete local snapshot of ``repo@revision``; raises NotCached with the reason."""
    base = repo_folder(repo, cache)
    rev = revision or "main"
    if _COMMIT.fullmatch(rev):
        commit = rev
    else:
        ref = base / "refs" / rev
        if not ref.is_file():
            raise NotCached(f"{repo}@{rev} is not in the Hugging Face cache {base.parent}")
        commit = ref.read_text().strip()
    snap = base / "snapshots" / commit
    if not (snap / "model_index.json").is_file():
        raise NotCached(f"{repo}@{rev} (commit {commit[:12]}) is not in the Hugging Face "
                        f"cache {base.parent}")
    index = identity.read_model_index(snap)
    files, _ = identity.model_files(snap, index)
    missing = identity.missing_parts(snap, index, files)
    if missing:
        raise NotCached(f"{repo}@{rev}: the cached snapshot {snap} is incomplete "
                        f"(missing {', '.join(missing)})")
    return snap


def blob_sha256(path: Path) -> str | None:
    """The tagged sha256 of a snapshot file from its LFS blob name, without reading it."""
    if not path.is_symlink():
        return None  # copied, not linked (Windows without symlinks): caller hashes it
    name = Path(os.readlink(path)).name
    return f"sha256:{name}" if _SHA256.fullmatch(name) else None


def ensure_available(repo: str, revision: str | None, allow_pickle: bool) -> Path:
    """Local snapshot of ``repo@revision``, downloading the files load() reads when online.

    Only ``model_index.json`` and the folders of the components that are loaded are fetched,
    in safetensors unless ``allow_pickle``; precision variants and other frameworks never.
    """
    try:
        return cached_snapshot(repo, revision)
    except NotCached as e:
        if offline():
            raise NotCached(f"{e}; HF_HUB_OFFLINE is set, so it cannot be downloaded now: "
                            f"download it once online (hf download {repo}"
                            f"{' --revision ' + revision if revision else ''}), or unset "
                            "HF_HUB_OFFLINE and build again") from None
    from huggingface_hub import hf_hub_download, snapshot_download

    cache = cache_dir()
    index_path = Path(hf_hub_download(repo, "model_index.json", revision=revision,
                                      cache_dir=cache))
    index = identity.read_model_index(index_path.parent)
    allow = ["model_index.json", *(f"{c}/*" for c in identity.components(index))]
    ignore = _IGNORE + ([] if allow_pickle else _IGNORE_PICKLE)
    snap = Path(snapshot_download(repo, revision=revision, cache_dir=cache,
                                  allow_patterns=allow, ignore_patterns=ignore))
    index = identity.read_model_index(snap)
    files, _ = identity.model_files(snap, index)
    missing = identity.missing_parts(snap, index, files)
    if missing:
        raise ModelFormatError(f"{repo}: downloaded, but {', '.join(missing)} missing "
                               "(a repository with only pickle weights needs allow_pickle)")
    return snap
