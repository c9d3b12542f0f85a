"""The no-op stamp: a bare ``assetforge build`` of an unchanged project answers from it without a
plan; a change to anything the plan depended on (and a damaged or missing stamp) plans again.

Outputs and records are seeded as a build writes them (test_plan_cache's ``seed``), so no image
is generated. A file changed in the last two seconds is never trusted by its stat, so ``age``
moves the mtimes of the project's own files (never the outputs: their records hold theirs)
into the past before a stamp is expected.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BASE_CONFIG
from helpers import DAMAGE, damage_file, run_cli
from test_plan_cache import MANIFEST, OTHER, PLUGIN, palette_project, seed

from assetforge.noopstamp import FILE_NAME, holds

# The project plugin also says when it is imported (outside the project, whose folder is
# watched): a build answered by the stamp loads none.
LOUD_PLUGIN = PLUGIN + '''
with open(Path(__file__).parent.parent.parent / "imported.txt", "a") as _f:
    _f.write("palette\\n")
'''


PAST = time.time_ns() - 60 * 10**9


def age(root: Path) -> None:
    """Every file and folder of the project but the outputs: last changed a minute before
    the tests began (always the same time, so the hash cache sees a file touched once)."""
    then = PAST
    outputs = root / "assets"
    for folder, dirs, files in os.walk(root):
        if Path(folder) == outputs or outputs in Path(folder).parents:
            continue
        for name in files + dirs:
            p = os.path.join(folder, name)
            if Path(p) != outputs:
                os.utime(p, ns=(then, then))
    os.utime(root, ns=(then, then))


def stamp(root: Path) -> Path:
    return root / ".assetforge" / FILE_NAME


def fast(root: Path) -> int | None:
    return holds(str(root), str(root / ".assetforge"))


def build(root: Path) -> str:
    res = run_cli(root, "build")
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.fixture
def project(make_project):
    root = palette_project(make_project, LOUD_PLUGIN)
    stamped(root)
    return root


def stamped(root: Path) -> None:
    """Build until the stamp is written: a build that hashed a file anew (one ``age`` just
    touched) wrote the database's hash cache, which is then too new to trust."""
    build(root)
    for _ in range(2):
        age(root)
        assert build(root) == "0 built, 4 up to date, 0 failed\n"
    assert stamp(root).is_file()


def test_stamp_answers_an_unchanged_project(project):
    assert fast(project) == 4
    (project.parent / "imported.txt").unlink()
    assert build(project) == "0 built, 4 up to date, 0 failed\n"
    assert not (project.parent / "imported.txt").exists()  # no plugin loaded: no plan was made


def test_bare_command_answers_before_loading_anything(project):
    """The ``assetforge`` script itself (fastpath.main) answers from the stamp, in a process
    of its own, and imports neither click nor pluggy nor the planner."""
    probe = ("import runpy, sys\nsys.argv = ['assetforge', 'build']\n"
             "try:\n    runpy.run_module('assetforge', run_name='__main__')\n"
             "except SystemExit as e:\n    code = e.code\n"
             "print(sorted(m for m in ('click', 'sqlalchemy', 'pluggy', 'assetforge.engine')"
             " if m in sys.modules), code)\n")
    def run() -> str:
        return subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True,
                              text=True, check=True).stdout

    run()  # pytest's sys.path is not the command's: this one plans and stamps
    assert run() == "0 built, 4 up to date, 0 failed\n[] 0\n"
    (project / "manifests" / "game.toml").write_text(MANIFEST + "\n")  # any change: a plan
    assert run() == ("0 built, 4 up to date, 0 failed\n"
                     "['assetforge.engine', 'click', 'pluggy'] 0\n")


def edit_manifest(root: Path) -> None:
    (root / "manifests" / "game.toml").write_text(MANIFEST.replace("brick wall", "tiles"))


def add_manifest(root: Path) -> None:
    (root / "manifests" / "more.toml").write_text('[texture.roof]\nprompt = "roof"\n')


def add_nested_manifest(root: Path) -> None:
    (root / "manifests" / "deep").mkdir()
    (root / "manifests" / "deep" / "more.toml").write_text('[texture.roof]\nprompt = "r"\n')


def touch_manifest_same_size(root: Path) -> None:
    p = root / "manifests" / "game.toml"
    p.write_text(MANIFEST.replace("brick wall", "brick hall"))  # same length, other bytes


def remove_manifest(root: Path) -> None:
    (root / "manifests" / "other.toml").unlink()


def edit_config(root: Path) -> None:
    p = root / "assetforge.toml"
    p.write_text(p.read_text().replace("steps = 2", "steps = 3", 1))


def edit_hashed_file(root: Path) -> None:
    (root / "palette.txt").write_text("red green blue")


def add_beside_hashed_file(root: Path) -> None:
    (root / "palette2.txt").write_text("a file a glob might find")


def edit_project_plugin(root: Path) -> None:
    p = root / "plugins" / "palette.py"
    p.write_text(p.read_text().replace('__version__ = "1"', '__version__ = "2"'))


def add_project_plugin(root: Path) -> None:
    (root / "plugins" / "more.py").write_text("")


def delete_output(root: Path) -> None:
    (root / "assets" / "textures" / "floor.png").unlink()


def edit_output(root: Path) -> None:
    p = root / "assets" / "textures" / "floor.png"
    p.write_bytes(p.read_bytes() + b"edited")


def touch_output(root: Path) -> None:
    p = root / "assets" / "textures" / "floor.png"
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1))


def write_database(root: Path) -> None:
    from assetforge.db import Store

    store = Store(root / ".assetforge" / "assetforge.db")
    store.finish_build(store.start_build("another command"), "finished", {})
    store.close()


def environment(root: Path) -> None:
    """(The test sets ASSETFORGE_PLUGINS: the plugins a build loads.)"""


def hold_lock_note(root: Path) -> None:
    """A build that died holding the lock: the next build recovers, so it must plan."""
    (root / ".assetforge" / "lock").write_text('{"state": "held", "pid": 1}')


@pytest.mark.parametrize("change", [
    edit_manifest, add_manifest, add_nested_manifest, touch_manifest_same_size,
    remove_manifest, edit_config, edit_hashed_file, add_beside_hashed_file,
    edit_project_plugin, add_project_plugin, delete_output, edit_output, touch_output,
    write_database, environment, hold_lock_note])
def test_any_change_plans_again(project, change, monkeypatch):
    change(project)
    if change is environment:
        monkeypatch.setenv("ASSETFORGE_PLUGINS", "diffusers")
    assert fast(project) is None


def test_lock_held_by_a_running_build(project):
    import fcntl

    with open(project / ".assetforge" / "lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        assert fast(project) is None
    assert fast(project) == 4


@pytest.mark.parametrize("damage", [*DAMAGE, "deleted"])
def test_damaged_stamp_plans(project, damage):
    if damage == "deleted":
        stamp(project).unlink()
    else:
        damage_file(stamp(project), damage)
    assert fast(project) is None
    (project.parent / "imported.txt").unlink()
    assert build(project) == "0 built, 4 up to date, 0 failed\n"
    assert (project.parent / "imported.txt").exists()  # planned
    assert fast(project) == 4  # and stamped again


def test_a_build_that_does_something_drops_the_stamp(project):
    """A deleted output: the bare build plans and makes it again, the stamp is dropped, and
    the next no-op stamps the new state."""
    delete_output(project)
    res = run_cli(project, "build", "--check")
    assert res.exit_code == 1 and "floor" in res.stdout
    assert build(project) == "built       floor\n1 built, 3 up to date, 0 failed\n"
    assert not stamp(project).exists()
    stamped(project)
    assert fast(project) == 4


def test_building_some_assets_leaves_the_stamp_alone(project):
    before = stamp(project).read_bytes()
    res = run_cli(project, "build", "floor")
    assert res.exit_code == 0, res.output
    assert stamp(project).read_bytes() == before and fast(project) == 4


def test_stamp_not_written_when_a_file_is_racy(project):
    stamp(project).unlink()
    (project / "palette.txt").write_text("red green")  # same bytes, mtime now
    assert build(project) == "0 built, 4 up to date, 0 failed\n"
    assert not stamp(project).exists()
    stamped(project)
    assert fast(project) == 4


def test_stamp_lives_beside_the_database(make_project):
    config = BASE_CONFIG.replace('seed_salt = "test"',
                                 'seed_salt = "test"\ndatabase = "state/records.db"')
    root = make_project({"manifests/game.toml": OTHER}, config=config)
    seed(root)
    build(root)
    for _ in range(2):
        age(root)
        build(root)
    assert (root / "state" / FILE_NAME).is_file()
    assert not (root / ".assetforge").exists()
    from assetforge.noopstamp import quick

    assert quick(str(root / "manifests")) == 1


def test_gpu_device_files_are_watched_not_their_folder(project):
    """``device = "auto"`` looks for GPU device files: a GPU appearing changes the plan (the
    recipe's dtype), so the stamp has them (absent here), but not /dev, which changes all the
    time."""
    import marshal

    from assetforge.noopstamp import _MAGIC

    files = marshal.loads(stamp(project).read_bytes()[len(_MAGIC) + 32:])[1]
    assert "/dev/nvidia0" in files and "/dev/kfd" in files
    assert "/dev" not in files
