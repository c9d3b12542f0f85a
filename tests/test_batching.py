"""Batched generation: grouping (assetforge/batching.py), the BatchGenerator protocol with its
fallbacks, and ``[models.NAME] batch = N`` on the real tiny diffusers model."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import build_json, run_cli

from assetforge.batching import group_jobs
from assetforge.engine import Builder
from assetforge.project import load_project

BATCHED = """\
[project]
name = "batched"
output_dir = "assets"
seed_salt = "test"

[generation]
device = "cpu"

[models.tiny]
source = "builtin:tiny-sd15"
batch = {batch}

[kinds.texture]
width = 64
height = 64
steps = 2
tiling = "none"
"""

SAME_SHAPE = """\
[texture.a]
prompt = "red bricks"
seed = 1

[texture.b]
prompt = "green moss"
seed = 2
negative_prompt = "blurry"

[texture.c]
prompt = "blue water"
seed = 3

[texture.d]
prompt = "grey stone"
seed = 4
steps = 3

[texture.e]
prompt = "yellow sand"
seed = 5
"""


def records(root: Path) -> dict[str, dict]:
    con = sqlite3.connect(root / ".assetforge" / "assetforge.db")
    try:
        rows = con.execute("SELECT asset_id, status, error, recipe_json, metrics_json "
                           "FROM generations ORDER BY id").fetchall()
    finally:
        con.close()
    return {a: {"status": s, "error": e, "recipe": json.loads(r or "null"),
                "metrics": json.loads(m or "{}")} for a, s, e, r, m in rows}


def test_group_jobs_by_shape_and_size(make_project):
    root = make_project({"manifests/t.toml": SAME_SHAPE}, config=BATCHED.format(batch=2))
    builder = Builder(load_project(root))
    try:
        jobs = list(builder.plan().jobs())
    finally:
        builder.close()
    groups = [[jp.job.asset_id for jp in g] for g in group_jobs(jobs)]
    # d has other steps: alone; the rest in groups of at most 2, in order; prompts, negative
    # prompts and seeds may differ inside a group
    assert sorted(groups) == [["a", "b"], ["c", "e"], ["d"]]
    # a generator that does not batch: one group per job
    assert group_jobs(jobs, lambda jp: 1) == [[jp] for jp in jobs]


@pytest.mark.usefixtures("one_torch_thread")
def test_batched_build_records_and_verifies(make_project):
    """Batch 2 on the tiny model: every image built and recorded with its batch; a job's
    bytes do not depend on its companions (verify --regenerate remakes each alone, padded to
    the recorded batch size, byte for byte)."""
    root = make_project({"manifests/t.toml": SAME_SHAPE}, config=BATCHED.format(batch=2))
    out = build_json(root)
    assert out["summary"]["built"] == 5
    recs = records(root)
    for asset in "abce":
        assert recs[asset]["recipe"]["generator"]["batch_size"] == 2
        assert recs[asset]["metrics"]["batch_size"] == 2
    assert recs["a"]["metrics"]["batch"] == {"jobs": 2, "index": 0}
    assert recs["b"]["metrics"]["batch"] == {"jobs": 2, "index": 1}
    assert "batch" not in recs["d"]["metrics"]  # alone: no group, still a batch-2 call
    assert recs["d"]["metrics"]["batch_size"] == 2
    res = run_cli(root, "verify", "--regenerate", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert {r["job_id"]: r["status"] for r in report["regenerated"]} == dict.fromkeys(
        "abcde", "exact")


@pytest.mark.usefixtures("one_torch_thread")
def test_batch_changes_the_recipe_and_the_pixels(make_project):
    """The measurement behind putting batch_size in the recipe: the same job alone and in a
    batch of 2 differs (CPU, one thread); the recipes differ too, so the cache never mixes."""
    manifest = '[texture.a]\nprompt = "red bricks"\nseed = 1\n'
    one = make_project({"manifests/t.toml": manifest}, config=BATCHED.format(batch=1),
                       name="one")
    two = make_project({"manifests/t.toml": manifest}, config=BATCHED.format(batch=2),
                       name="two")
    assert build_json(one)["summary"]["built"] == 1
    assert build_json(two)["summary"]["built"] == 1
    a1, a2 = records(one)["a"], records(two)["a"]
    assert a1["recipe"] != a2["recipe"]
    assert a1["recipe"]["generator"]["batch_size"] == 1
    png1 = (one / "assets" / "textures" / "a.png").read_bytes()
    png2 = (two / "assets" / "textures" / "a.png").read_bytes()
    import io

    import numpy as np
    from PIL import Image

    p1 = np.asarray(Image.open(io.BytesIO(png1)).convert("RGB"), dtype=np.int16)
    p2 = np.asarray(Image.open(io.BytesIO(png2)).convert("RGB"), dtype=np.int16)
    diff = np.abs(p1 - p2)
    assert diff.max() > 0  # bit for bit different: batch size must be in the recipe
    assert diff.max() <= 8  # …but the same noise: nearly the same picture


FLAKY = '''
from PIL import Image
from assetforge.api import hookimpl


class Flaky:
    """Generates grey squares; "boom" in a prompt fails that image (and a whole batch call)."""

    name, version, schedulers = "flaky", "1.0", ("solid",)
    calls: list[int] = []

    def handles(self, model):
        return model.source.startswith("flaky:")

    def identify(self, model, project):
        from assetforge.api import ModelIdentity
        return ModelIdentity("sha256:" + "0" * 64, "flat")

    def validate_scheduler(self, name, family):
        return None

    def recipe_fields(self, job, model):
        return {"batch_size": 3}

    def load(self, model, project):
        return "loaded"

    def device_of(self, loaded):
        return "none"

    def batch_size(self, job, recipe):
        return recipe["generator"]["batch_size"]

    def generate(self, loaded, job, ctx):
        Flaky.calls.append(1)
        if "boom" in job.prompt:
            raise RuntimeError("boom in " + job.asset_id)
        return Image.new("RGB", (job.width, job.height), (job.seed % 256,) * 3)

    GENERATE_BATCH


@hookimpl
def register_generators():
    return [Flaky()]
'''

GENERATE_BATCH = '''def generate_batch(self, loaded, jobs, ctxs):
        Flaky.calls.append(len(jobs))
        if any("bad" in j.prompt for j in jobs):
            raise RuntimeError("the whole call failed")
        return [RuntimeError("boom") if "boom" in j.prompt
                else Image.new("RGB", (j.width, j.height), (j.seed % 256,) * 3) for j in jobs]
'''

FLAKY_CONFIG = """\
[project]
name = "flaky"
output_dir = "assets"
plugins_dir = "plugins"

[models.flaky]
source = "flaky:grey"

[kinds.texture]
width = 8
height = 8
steps = 1
scheduler = "solid"
tiling = "none"
"""


def _flaky_project(make_project, with_batch: bool, prompts: dict[str, str]) -> Path:
    code = FLAKY.replace("GENERATE_BATCH", GENERATE_BATCH if with_batch else "")
    manifest = "".join(f'[texture.{a}]\nprompt = "{p}"\nseed = {i + 10}\n\n'
                       for i, (a, p) in enumerate(prompts.items()))
    return make_project({"plugins/flaky.py": code, "manifests/t.toml": manifest},
                        config=FLAKY_CONFIG,
                        name=f"flaky{int(with_batch)}{len(prompts)}")


@pytest.mark.parametrize("whole_call_fails", [False, True])
def test_a_failing_image_fails_alone(make_project, whole_call_fails):
    prompts = {"a": "fine", "b": "boom", "c": "bad" if whole_call_fails else "fine",
               "d": "fine"}
    root = _flaky_project(make_project, True, prompts)
    out = build_json(root, "--no-wait")
    status = {a["id"]: a["status"] for a in out["assets"]}
    assert status["b"] == "failed"
    built = {a for a, s in status.items() if s == "built"}
    # a whole failed call is retried one job at a time: only "boom" fails; "bad" is fine alone
    assert built == {"a", "c", "d"}
    recs = records(root)
    assert "boom" in recs["b"]["error"]
    assert recs["a"]["status"] == recs["c"]["status"] == "ok"
    if not whole_call_fails:
        assert recs["a"]["metrics"]["batch"] == {"jobs": 3, "index": 0}


def test_generator_without_generate_batch_gets_one_job_per_call(make_project):
    root = _flaky_project(make_project, False, {"a": "x", "b": "y", "c": "z"})
    out = build_json(root)
    assert out["summary"]["built"] == 3
    assert all("batch" not in r["metrics"] for r in records(root).values())


def test_batch_protocol_is_public_and_documented():
    from assetforge import api

    assert "BatchGenerator" in api.__all__
    guide = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    for name in ("BatchGenerator", "batch_size(job, recipe)", "generate_batch(loaded, jobs, ctxs)",
                 "batch_shape(job, recipe)", "group_jobs"):
        assert name in guide, name
    for method in ("batch_size", "generate_batch", "batch_shape"):
        assert getattr(api.BatchGenerator, method).__doc__
