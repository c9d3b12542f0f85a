"""assetforge.entrypoints finds the same entry points and versions as importlib.metadata."""

from __future__ import annotations

import importlib.metadata
import sys
import zipfile
from pathlib import Path

import pytest

from assetforge import entrypoints


def reference(group: str) -> list[entrypoints.EntryPoint]:
    return entrypoints._from_importlib(group)


@pytest.fixture
def fresh():
    """Entry points and distributions are cached per sys.path; start every test empty."""
    entrypoints._entry_points.cache_clear()
    entrypoints._distributions.cache_clear()
    yield
    entrypoints._entry_points.cache_clear()
    entrypoints._distributions.cache_clear()


@pytest.mark.parametrize("group", ["assetforge", "console_scripts", "pytest11", "no.such"])
def test_installed_environment(fresh, group):
    assert entrypoints.entry_points(group) == reference(group)


def test_versions_of_every_installed_distribution(fresh):
    names = {d.metadata["Name"] for d in importlib.metadata.distributions()}
    assert len(names) > 10
    assert {n: entrypoints.version(n) for n in names} == {
        n: importlib.metadata.version(n) for n in names}
    assert entrypoints.version("no-such-distribution-anywhere") is None


def dist(folder: Path, dirname: str, name: str, version: str, eps: str | None) -> None:
    d = folder / dirname
    d.mkdir(parents=True)
    meta = "PKG-INFO" if dirname.endswith(".egg-info") else "METADATA"
    (d / meta).write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n")
    if eps is not None:
        (d / "entry_points.txt").write_text(eps)


def test_made_up_path_first_distribution_of_a_name_wins(fresh, tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    dist(a, "demo_pkg-1.0.dist-info", "demo-pkg", "1.0",
         "# comment\n[assetforge]\nfirst = demo.one:plugin [extra]\n\n[other]\nx = y\n")
    dist(b, "Demo.Pkg-2.0.dist-info", "Demo.Pkg", "2.0", "[assetforge]\nshadowed = demo.two\n")
    dist(b, "legacy.egg-info", "legacy", "0.3", "[assetforge]\n  old = legacy.plug  \n")
    dist(b, "noeps-1.0.dist-info", "noeps", "1.0", None)
    (b / "broken-1.0.dist-info").write_text("a file, not a folder")
    monkeypatch.setattr(sys, "path", [str(a), str(tmp_path / "missing"), str(b)])
    found = entrypoints.entry_points("assetforge")
    assert found == reference("assetforge")
    assert [(e.name, e.value, e.dist_name, e.dist_version) for e in found] == [
        ("first", "demo.one:plugin [extra]", "demo-pkg", "1.0"),
        ("old", "legacy.plug", "legacy", "0.3")]
    assert entrypoints.version("demo_pkg") == "1.0"
    assert entrypoints.version("legacy") == "0.3"


def test_a_zip_on_the_path_is_left_to_importlib_metadata(fresh, tmp_path, monkeypatch):
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped-1.0.dist-info/METADATA", "Name: zipped\nVersion: 1.0\n\n")
        z.writestr("zipped-1.0.dist-info/entry_points.txt", "[assetforge]\nz = zipped.plug\n")
    monkeypatch.setattr(sys, "path", [str(archive)])
    assert entrypoints._distributions(tuple(sys.path)) is None
    found = entrypoints.entry_points("assetforge")
    assert [(e.name, e.value, e.dist_version) for e in found] == [("z", "zipped.plug", "1.0")]


def test_load_returns_the_named_attribute(fresh):
    ep = entrypoints.EntryPoint("x", "assetforge.hashing:canonical_json", "assetforge", "0")
    from assetforge.hashing import canonical_json

    assert ep.load() is canonical_json
    assert entrypoints.EntryPoint("m", "assetforge.hashing", "a", "0").load().__name__ == (
        "assetforge.hashing")
