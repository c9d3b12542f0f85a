"""Atomic output writes: an interrupted write leaves the previous file and no partial one."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from assetforge.outputs import png_bytes, read_embedded_recipe, write_atomic


def test_interrupted_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out" / "a.png"
    write_atomic(target, b"old contents")

    def interrupted(fd):  # Ctrl-C arriving after the bytes are written, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new contents that never land")
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.png"]


def test_killed_writer_process_leaves_no_partial_output(tmp_path):
    """SIGKILL a real process mid-write (after it wrote half the bytes) and look at the folder."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "big.png"
    code = f"""
import os, sys, time
import assetforge.outputs as o
real = os.fsync
def slow(fd):
    print("writing", flush=True)
    time.sleep(60)
os.fsync = slow
o.write_atomic(__import__("pathlib").Path({str(target)!r}), b"x" * (8 << 20))
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not target.exists()  # no partial file under the real name
    from assetforge.outputs import clean_temp_files

    assert clean_temp_files(tmp_path) == 1  # the orphan temp file is found and removed
    assert list(tmp_path.iterdir()) == []


def test_png_embeds_recipe_and_is_deterministic(tmp_path):
    im = Image.new("RGB", (16, 8), (10, 20, 30))
    recipe = {"prompt": "p", "seed": 1}
    a = png_bytes(im, "p\nSteps: 1", recipe, "sha256:abc")
    b = png_bytes(im.copy(), "p\nSteps: 1", dict(recipe), "sha256:abc")
    assert a == b
    path = tmp_path / "x.png"
    write_atomic(path, a)
    assert read_embedded_recipe(path) == ("sha256:abc", recipe)
    plain = tmp_path / "plain.png"
    im.save(plain)
    assert read_embedded_recipe(plain) is None


def test_outputs_get_the_users_file_mode(tmp_path):
    """An output is created like any file of the user (0666 less the umask), not 0600."""
    import stat

    from assetforge.outputs import FILE_MODE

    written = write_atomic(tmp_path / "a.png", b"png")
    mode = stat.S_IMODE(written.path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == FILE_MODE == 0o666 & ~umask
    assert mode & 0o044 or umask & 0o044  # readable by group/others unless the umask says no
