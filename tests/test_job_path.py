"""The lean job path: temp files, output paths checked once per build, records after a sync."""

from __future__ import annotations

import os
import sqlite3
import stat

from helpers import run_cli
from PIL import Image

from assetforge.objects import ObjectStore
from assetforge.tmpfiles import create_temp

CONFIG = '[project]\nname = "lean"\nseed_salt = "t"\n'


def _file_project(make_project, n: int = 3):
    root = make_project({"manifests/a.toml": "".join(
        f'[texture.t{i}]\nimage = "art/t{i}.png"\n\n' for i in range(n))}, config=CONFIG)
    (root / "art").mkdir()
    for i in range(n):
        Image.new("RGB", (8, 8), (i * 40, 200 - i * 30, 7 * i)).save(root / "art" / f"t{i}.png")
    return root


def test_create_temp_makes_the_folder_and_never_reuses_a_name(tmp_path):
    folder = tmp_path / "a" / "b"
    fd, first = create_temp(folder, ".x.")
    os.close(fd)
    # a leftover with the next name (a dead process with our id) is skipped, not opened
    pid, n = os.path.basename(first)[3:-4].split("-")
    (folder / f".x.{pid}-{int(n) + 1}.tmp").write_bytes(b"left")
    fd, second = create_temp(folder, ".x.")
    os.close(fd)
    assert first != second and os.path.basename(second) != f".x.{pid}-{int(n) + 1}.tmp"
    assert (folder / f".x.{pid}-{int(n) + 1}.tmp").read_bytes() == b"left"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(second).st_mode) == 0o666 & ~umask


def test_object_store_writes_with_the_users_mode_into_new_folders(tmp_path):
    store = ObjectStore(tmp_path / "store")
    digest = store.put(b"bytes")
    store.set_ref("sha256:" + "ab" * 32, digest)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(store.object_path(digest).stat().st_mode) == 0o666 & ~umask
    assert store.get(digest) == b"bytes" and store.ref("sha256:" + "ab" * 32) == digest
    assert list((tmp_path / "store" / "tmp").iterdir()) == []  # renamed into place


def test_every_output_recorded_once_whole_and_no_temp_left(make_project):
    root = _file_project(make_project, 5)
    res = run_cli(root, "build")
    assert res.exit_code == 0, res.output
    conn = sqlite3.connect(root / ".assetforge" / "assetforge.db")
    try:
        rows = conn.execute("SELECT output_path, output_hash, output_size FROM generations"
                            " WHERE status='ok'").fetchall()
    finally:
        conn.close()
    from assetforge.hashing import bytes_hash

    assert len(rows) == 5
    for rel, digest, size in rows:
        data = (root / "assets" / rel).read_bytes()
        assert (bytes_hash(data), len(data)) == (digest, size)
    assert not [p for p in root.rglob("*.tmp")]


def test_an_output_folder_linked_out_of_the_project_is_refused(make_project, tmp_path):
    root = _file_project(make_project, 2)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "assets").mkdir()
    (root / "assets" / "textures").symlink_to(outside)
    res = run_cli(root, "build")
    assert res.exit_code == 2, res.output
    assert "a symbolic link leads out of the project" in res.output
    assert list(outside.iterdir()) == []  # nothing written through the link
