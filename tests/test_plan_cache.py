"""The plan cache is an optimisation only: with it warm, deleted, corrupted, or after a change
to anything it depends on, a plan is identical to a cold one (no cache at all).

Outputs and records are seeded as a build writes them (a small PNG per job, one record each),
so plans hold up-to-date, changed and missing jobs without generating images.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from conftest import BASE_CONFIG
from helpers import DAMAGE, damage_file

from assetforge.engine import Builder
from assetforge.plancache import FILE_NAME
from assetforge.project import load_project

MANIFEST = """\
[texture.floor]
prompt = "stone floor"

[texture.wall]
prompt = "brick wall"
seed = 7

[character.hero]
prompt = "a hero"
views = ["front", "back"]
"""

OTHER = """\
[tile.grass]
prompt = "grass"
"""

# A project plugin whose recipe part hashes a file of the project (like a LoRA or a model
# file): the cache must notice that file change. It counts its calls in a file beside it.
PLUGIN = '''\
from pathlib import Path

from assetforge.api import RecipePart, hookimpl

__version__ = "1"


def _count(project, hook):
    log = project.root / "calls.txt"
    with open(log, "a") as f:
        f.write(hook + "\\n")


@hookimpl
def recipe_parts(job, project):
    _count(project, "recipe_parts")
    if job.spec.get("prompt", "").startswith("grass"):
        palette = project.root / "palette.txt"
        return RecipePart("palette", __version__, {"file": project.hash_file(palette)})
    return None


@hookimpl
def validate_spec(spec, project):
    _count(project, "validate_spec")
    return None
'''


def seed(root: Path) -> None:
    """Write every planned job's output and record, as a build would (no generation)."""
    from PIL import Image

    from assetforge.db import Generation, Store
    from assetforge.outputs import write_atomic

    builder = Builder(load_project(root))
    plan = builder.plan()
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 90, 90)).save(buf, format="PNG")
    store = Store(builder.project.database)
    build_id = store.start_build("seed")
    rows = []
    for jp in plan.jobs():
        w = write_atomic(builder.project.output_dir / jp.job.output, buf.getvalue())
        rows.append(Generation(
            build_id=build_id, asset_id=jp.job.asset_id, job_id=jp.job.job_id,
            kind=jp.job.kind, view=jp.job.view, status="ok", recipe_hash=jp.key,
            recipe_json=json.dumps(jp.recipe, sort_keys=True), prompt=jp.job.prompt,
            negative_prompt=jp.job.negative_prompt, seed=jp.job.seed,
            model_name=jp.job.model, model_hash=jp.model.hash, plugin_versions_json="{}",
            output_path=jp.job.output, output_hash=w.hash, output_size=w.size,
            output_mtime_ns=w.mtime_ns))
    with store.session() as s, s.begin():
        s.add_all(rows)
    store.finish_build(build_id, "finished", {"jobs": len(rows)})
    store.close()
    builder.close()


def snapshot(root: Path) -> list:
    """Everything a plan says: per asset its status and reason, per job its output, status,
    reason, key, recipe and the spec's fields as planning left them."""
    builder = Builder(load_project(root))
    try:
        plan = builder.plan(adopt=False)
    finally:
        builder.close()
    return [(a.id, a.status, a.reason, sorted(a.spec.fields.items(), key=lambda kv: kv[0]),
             [(jp.job.job_id, jp.job.output, jp.job.prompt, jp.status, jp.reason, jp.key,
               jp.recipe, jp.changed) for jp in a.jobs])
            for a in plan.assets]


def cold(root: Path) -> list:
    (root / ".assetforge" / FILE_NAME).unlink(missing_ok=True)
    return snapshot(root)


def warm_equals_cold(root: Path) -> list:
    """Plan with the cache as it is, then without any: both must be the same plan."""
    warm = snapshot(root)
    assert (root / ".assetforge" / FILE_NAME).is_file()
    assert warm == cold(root)
    return warm


def palette_project(make_project, plugin: str = PLUGIN) -> Path:
    """Two manifests and a project plugin that reads ``palette.txt``, seeded with outputs."""
    config = BASE_CONFIG.replace('seed_salt = "test"',
                                 'seed_salt = "test"\nplugins_dir = "plugins"')
    root = make_project({"manifests/game.toml": MANIFEST, "manifests/other.toml": OTHER,
                         "plugins/palette.py": plugin, "palette.txt": "red green"},
                        config=config)
    seed(root)
    return root


@pytest.fixture
def project(make_project):
    root = palette_project(make_project)
    snapshot(root)  # fills the cache
    return root


def calls(root: Path) -> list[str]:
    log = root / "calls.txt"
    found = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return found


def statuses_only(root: Path) -> dict[str, str]:
    """A plan's statuses, without asking for any recipe (a build of a no-op does not)."""
    builder = Builder(load_project(root))
    try:
        return {a.id: a.status for a in builder.plan(adopt=False).assets}
    finally:
        builder.close()


def test_unchanged_project_plans_from_the_cache(project):
    calls(project)
    assert set(statuses_only(project).values()) == {"up-to-date"}
    assert calls(project) == []  # no validate_spec, no recipe_parts: the cache answered
    plan = snapshot(project)  # asking for the recipes makes them (recipe_parts only)
    assert set(calls(project)) == {"recipe_parts"}
    # the same plan made cold asks every hook for every asset
    assert plan == cold(project)
    assert sorted(set(calls(project))) == ["recipe_parts", "validate_spec"]


def test_deleted_cache(project):
    (project / ".assetforge" / FILE_NAME).unlink()
    warm_equals_cold(project)


@pytest.mark.parametrize("damage", [*DAMAGE, "foreign"])
def test_corrupt_cache_is_a_cold_run(project, damage):
    path = project / ".assetforge" / FILE_NAME
    if damage == "foreign":
        data = path.read_bytes()
        path.write_text(json.dumps({"version": 1, "files": {}}))
    else:
        data = damage_file(path, damage)
    expected = cold(project)
    path.write_bytes(data if damage == "flipped" else path.read_bytes())
    if damage != "flipped":  # damage again (cold() rewrote it) and plan from the damage
        path.write_bytes(os.urandom(64) if damage == "garbage" else b"")
    else:
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    assert snapshot(project) == expected
    assert snapshot(project) == expected  # and the rewritten cache is right too


def test_manifest_edit(project):
    manifest = project / "manifests" / "game.toml"
    manifest.write_text(MANIFEST.replace("brick wall", "mossy brick wall"))
    plan = warm_equals_cold(project)
    assert {a[0]: a[1] for a in plan}["wall"] == "changed"


def test_touched_manifest_same_content(project):
    manifest = project / "manifests" / "game.toml"
    st = manifest.stat()
    os.utime(manifest, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    calls(project)
    assert set(statuses_only(project).values()) == {"up-to-date"}
    assert calls(project) == []  # same bytes: still answered by the cache
    warm_equals_cold(project)


def test_manifest_added_and_removed(project):
    (project / "manifests" / "more.toml").write_text('[texture.roof]\nprompt = "roof"\n')
    plan = warm_equals_cold(project)
    assert {a[0]: a[1] for a in plan}["roof"] == "new"
    (project / "manifests" / "other.toml").unlink()
    plan = warm_equals_cold(project)
    assert "grass" not in {a[0] for a in plan}


def test_duplicate_output_across_files_still_refused(project):
    (project / "manifests" / "more.toml").write_text(
        '[texture.roof]\nprompt = "roof"\noutput = "textures/floor.png"\n')
    from assetforge.errors import UserError

    with pytest.raises(UserError, match="writes textures/floor.png, as does asset"):
        snapshot(project)


@pytest.mark.parametrize("edit", [
    ("[kinds.texture]\nwidth = 64", "[kinds.texture]\nnegative_prompt = \"blurry\"\nwidth = 64"),
    ('seed_salt = "test"', 'seed_salt = "other"'),
    ("steps = 2", "steps = 3"),
])
def test_config_edit(project, edit):
    config = project / "assetforge.toml"
    config.write_text(config.read_text().replace(*edit, 1))
    plan = warm_equals_cold(project)
    assert "changed" in {a[1] for a in plan}


def test_config_edit_that_makes_a_manifest_invalid(project):
    config = project / "assetforge.toml"
    # a second model and no default_model: every asset must now name its model
    config.write_text(config.read_text() + '\n[models.other]\nsource = "builtin:tiny-sd15"\n')
    from assetforge.errors import UserError

    with pytest.raises(UserError) as warm:
        snapshot(project)
    with pytest.raises(UserError) as cold_run:
        cold(project)
    assert [str(p) for p in warm.value.problems] == [str(p) for p in cold_run.value.problems]
    assert "assetforge.toml has no default_model" in str(warm.value.problems[0])


def test_plugin_changed(project):
    plugin = project / "plugins" / "palette.py"
    plugin.write_text(PLUGIN.replace('__version__ = "1"', '__version__ = "2"'))
    plan = warm_equals_cold(project)
    assert {a[0]: a[1] for a in plan}["grass"] == "changed"


def test_plugin_set_changed(project, monkeypatch):
    monkeypatch.setenv("ASSETFORGE_PLUGINS", "diffusers")  # the project plugin is left out
    plan = warm_equals_cold(project)
    assert {a[0]: a[1] for a in plan}["grass"] == "changed"
    monkeypatch.delenv("ASSETFORGE_PLUGINS")
    plan = warm_equals_cold(project)
    assert {a[0]: a[1] for a in plan}["grass"] == "up-to-date"


def test_hashed_input_file_changed(project):
    (project / "palette.txt").write_text("red green blue")
    plan = warm_equals_cold(project)
    statuses = {a[0]: a[1] for a in plan}
    assert statuses["grass"] == "changed" and statuses["floor"] == "up-to-date"


def test_hashed_input_file_removed(project):
    (project / "palette.txt").unlink()
    plan = warm_equals_cold(project)
    grass = next(a for a in plan if a[0] == "grass")
    assert grass[1] == "error" and "palette.txt" in grass[2]


def test_model_identity_changed(make_project, sd15):
    """A model from a folder of the project: one file of it edited, every recipe changes."""
    import shutil

    root = make_project({"manifests/game.toml": MANIFEST})
    shutil.copytree(sd15, root / "models" / "tiny")
    config = root / "assetforge.toml"
    config.write_text(config.read_text().replace('"builtin:tiny-sd15"', '"models/tiny"'))
    seed(root)
    warm_equals_cold(root)
    cfg = root / "models" / "tiny" / "scheduler" / "scheduler_config.json"
    data = json.loads(cfg.read_text())
    cfg.write_text(json.dumps(data, indent=1) + "\n")  # same settings, other bytes
    plan = warm_equals_cold(root)
    assert {a[1] for a in plan} == {"changed"}


def test_output_edits_and_force_still_seen(project):
    floor = project / "assets" / "textures" / "floor.png"
    floor.unlink()
    hero = project / "assets" / "characters" / "hero_front.png"
    hero.write_bytes(hero.read_bytes() + b"edited")
    plan = warm_equals_cold(project)
    statuses = {a[0]: a[1] for a in plan}
    assert statuses["floor"] == "missing" and statuses["hero"] == "modified"


def test_build_from_cached_plan_records_the_full_recipe(project):
    """A job planned from the cache that must be rebuilt still gets its whole recipe."""
    (project / "assets" / "textures" / "floor.png").unlink()
    builder = Builder(load_project(project))
    plan = builder.plan(adopt=False)
    builder.close()
    floor = next(jp for a in plan.assets for jp in a.jobs if a.id == "floor")
    assert floor.recipe is not None and floor.recipe["prompt"] == "stone floor"
    fresh = cold(project)
    assert next(j for a in fresh if a[0] == "floor" for j in a[4])[6] == floor.recipe


def test_cache_file_is_only_beside_the_database(project):
    """Nothing else is written: the cache lives in the state folder only."""
    names = {p.name for p in (project / ".assetforge").iterdir()}
    assert FILE_NAME in names
    assert not any(p.name.endswith(".tmp") for p in (project / ".assetforge").iterdir())


KEYED = '''\
from assetforge.api import ManifestKey, RecipePart, for_keys, hookimpl

__version__ = "1"


def _count(project, hook):
    with open(project.root / "keyed.txt", "a") as f:
        f.write(hook + "\\n")


@hookimpl
def register_manifest_keys():
    return [ManifestKey("glaze", (str,), "a glaze")]


@hookimpl
@for_keys("glaze")
def validate_spec(spec, project):
    _count(project, "validate_spec:" + spec.id)


@hookimpl
@for_keys("glaze")
def recipe_parts(job, project):
    _count(project, "recipe_parts:" + job.asset_id)
    return RecipePart("keyed", __version__, {"glaze": job.spec.get("glaze")})
'''


def test_for_keys_hooks_skip_assets_without_the_keys(make_project):
    """A plugin's keyed hooks run only for the assets that carry its keys; the plans are
    the same as if it were called for every asset."""
    config = BASE_CONFIG.replace('seed_salt = "test"',
                                 'seed_salt = "test"\nplugins_dir = "plugins"')
    root = make_project({"manifests/game.toml": MANIFEST + '\n[texture.pot]\nprompt = "pot"\n'
                         'glaze = "blue"\n', "plugins/keyed.py": KEYED}, config=config)
    plan = cold(root)
    log = root / "keyed.txt"
    assert sorted(log.read_text().split()) == ["recipe_parts:pot", "validate_spec:pot"]
    pot = next(a for a in plan if a[0] == "pot")
    assert pot[4][0][6]["plugins"]["keyed"]["params"] == {"glaze": "blue"}
    floor = next(a for a in plan if a[0] == "floor")
    assert "keyed" not in floor[4][0][6]["plugins"]
    # unmarked, the same hooks give the same plan (they return nothing for other assets)
    unmarked = KEYED.replace('@for_keys("glaze")\n', "").replace(
        '    _count(project, "recipe_parts:" + job.asset_id)\n',
        '    _count(project, "recipe_parts:" + job.asset_id)\n'
        '    if job.spec.get("glaze") is None:\n        return None\n')
    (root / "plugins" / "keyed.py").write_text(unmarked)
    log.unlink()
    assert cold(root) == plan
    assert "recipe_parts:floor" in log.read_text().split()
