"""Project.hash_file: content hashes of weights, re-read only when a file changes on disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from assetforge import hashing
from assetforge.db import Store
from assetforge.project import load_project


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Names of the files whose bytes were actually read and hashed."""
    seen: list[str] = []
    real = hashing.file_sha256

    def counting(path: Path) -> str:
        seen.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(hashing, "file_sha256", counting)
    return seen


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_file_is_read_once_until_it_changes(make_project, reads):
    root = make_project({"models/a.safetensors": b"first"})
    Store(load_project(root).database).close()  # the file_hashes table
    project = load_project(root)
    weights = root / "models" / "a.safetensors"
    assert project.hash_file(weights) == sha(b"first")
    for _ in range(3):
        assert project.hash_file(weights) == sha(b"first")
        assert project.hash_file(str(weights)) == sha(b"first")
    assert reads == ["a.safetensors"]

    weights.write_bytes(b"second, longer")  # another size
    assert project.hash_file(weights) == sha(b"second, longer")
    st = weights.stat()
    weights.write_bytes(b"third, longer!")  # same size: mtime (and content) differ
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert project.hash_file(weights) == sha(b"third, longer!")
    assert reads == ["a.safetensors"] * 3

    # Another process (a new Project) finds it in the database without reading it.
    assert load_project(root).hash_file(weights) == sha(b"third, longer!")
    assert reads == ["a.safetensors"] * 3


def test_a_replaced_file_and_a_missing_file(make_project, reads):
    root = make_project({"models/a.safetensors": b"old"})
    project = load_project(root)
    weights = root / "models" / "a.safetensors"
    assert project.hash_file(weights) == sha(b"old")
    st = weights.stat()
    replacement = root / "models" / "new.tmp"
    replacement.write_bytes(b"new")  # same size; os.replace gives another inode
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, weights)
    assert project.hash_file(weights) == sha(b"new")
    weights.unlink()
    with pytest.raises(FileNotFoundError):
        project.hash_file(weights)
