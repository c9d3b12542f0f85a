"""Licences of the weights behind every output: declared, read from safetensors metadata and
model-card front matter, recorded per generation, inherited through recorded inputs, and
enforced by ``[policy]`` on ``build`` and ``build --check``."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import run_cli

from assetforge.licenses import front_matter_license, safetensors_license

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = """\
[project]
name = "lic"
output_dir = "assets"
seed_salt = "test"

[models.local]
source = "models/sd15"

[kinds.texture]
width = 64
height = 64
steps = 2
tiling = "none"
"""

MANIFEST = """\
[texture.a]
prompt = "a brick wall"
style = "ink"
upscale = {factor = 2, model = "models/x4.safetensors"}
"""


def _with_license(path: Path, license_: str) -> None:
    from safetensors.torch import load_file, save_file

    save_file(load_file(path), path, metadata={"modelspec.license": license_})


def test_readers(tmp_path):
    from assetforge_upscale.testing import build_tiny_esrgan

    plain = build_tiny_esrgan(tmp_path / "plain.safetensors")
    assert safetensors_license(plain) is None
    tagged = build_tiny_esrgan(tmp_path / "tagged.safetensors")
    _with_license(tagged, "Apache-2.0")
    assert safetensors_license(tagged) == "Apache-2.0"
    card = tmp_path / "README.md"
    card.write_text("---\nlanguage: en\nlicense: openrail++  # the card's licence\n"
                    "tags:\n  - license: not-this\n---\n# A model\nlicense: nor this\n")
    assert front_matter_license(card) == "openrail++"
    card.write_text("# No front matter\nlicense: mit\n")
    assert front_matter_license(card) is None


@pytest.fixture
def licensed(make_project, sd15, tmp_path):
    """A project whose model folder's README says its licence, whose style pack declares one
    in style.toml, and whose upscaler carries one in its safetensors header."""
    from assetforge_lora import testing as lora_testing
    from assetforge_upscale.testing import build_tiny_esrgan

    root = make_project({"manifests/game.toml": MANIFEST}, config=CONFIG)
    model = root / "models" / "sd15"
    shutil.copytree(sd15, model)
    (model / "README.md").write_text("---\nlicense: creativeml-openrail-m\n---\n# tiny\n")
    esrgan = build_tiny_esrgan(root / "models" / "x4.safetensors")
    _with_license(esrgan, "Apache-2.0")
    pack = root / "styles" / "ink"
    pack.mkdir(parents=True)
    lora_testing.save_peft_lora(sd15, pack / "ink.safetensors", seed=1)
    (pack / "style.toml").write_text('license = "CC0-1.0"\nfamily = "sd15"\n\n[[lora]]\n'
                                     'file = "ink.safetensors"\n')
    return root


def _by_file(entries: list[dict]) -> dict[str, tuple[str, str]]:
    return {e["file"]: (e["license"], e["source"]) for e in entries}


def test_hook_weight_licenses(licensed):
    """Each plugin reports its weight files: recorded with the generation, listed by
    ``licenses``, and a policy naming another licence fails build --check and build."""
    root = licensed
    res = run_cli(root, "build", "--json")
    assert res.exit_code == 0, res.output
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as db:
        recorded = json.loads(db.execute("SELECT licenses_json FROM generations "
                                         "WHERE job_id='a'").fetchone()[0])
    expected = {
        "models/sd15": ("creativeml-openrail-m", "README.md front matter"),
        "styles/ink/ink.safetensors": ("CC0-1.0", "style.toml"),
        "models/x4.safetensors": ("Apache-2.0", "safetensors metadata"),
    }
    assert _by_file(recorded) == expected
    res = run_cli(root, "licenses", "--json")
    assert res.exit_code == 0, res.output
    (shipped,) = json.loads(res.stdout)["outputs"]
    assert shipped["asset"] == "a" and _by_file(shipped["licenses"]) == expected

    # A licence declared in the model table wins over the model card.
    cfg = root / "assetforge.toml"
    cfg.write_text(cfg.read_text().replace('source = "models/sd15"',
                                           'source = "models/sd15"\nlicense = "MIT"'))
    res = run_cli(root, "licenses", "--json")
    (shipped,) = json.loads(res.stdout)["outputs"]
    assert _by_file(shipped["licenses"])["models/sd15"][0] == "creativeml-openrail-m"  # recorded
    from assetforge.licenses import job_licenses
    from assetforge.plan import make_plan
    from assetforge.plugins import load_plugins
    from assetforge.project import load_project

    project = load_project(root)
    plugins = load_plugins(project)
    from assetforge.manifest import load_specs

    plan = make_plan(project, plugins, load_specs(project, plugins))
    now = _by_file([lic.__dict__ for lic in job_licenses(project, plugins, plan.jobs()[0].job)])
    assert now["models/sd15"] == ("MIT", "assetforge.toml [models.local]")


def test_policy_fails_build_and_check(licensed):
    root = licensed
    cfg = root / "assetforge.toml"
    cfg.write_text(cfg.read_text() + '\n[policy]\nallowed_licenses = ["CC0-1.0", '
                   '"creativeml-openrail-m"]\n')
    res = run_cli(root, "build", "--check")
    assert res.exit_code == 1
    assert "licence policy: asset a: upscaler models/x4.safetensors has licence " \
           "'Apache-2.0', not in [policy] allowed_licenses" in res.output
    res = run_cli(root, "build", "--json")
    assert res.exit_code == 1
    (asset,) = json.loads(res.stdout)["assets"]
    assert asset["status"] == "failed" and "models/x4.safetensors" in asset["errors"][0]
    assert not (root / "assets" / "textures" / "a.png").exists()

    cfg.write_text(cfg.read_text().replace('"CC0-1.0", ', '"CC0-1.0", "apache-2.0", '))
    assert run_cli(root, "build").exit_code == 0  # case-insensitive, now allowed

    # require_license: a weight with no licence anywhere fails, naming the file.
    (root / "models" / "sd15" / "README.md").unlink()
    cfg.write_text(cfg.read_text().replace("[policy]\n", "[policy]\nrequire_license = true\n"))
    res = run_cli(root, "build", "--check")
    assert res.exit_code == 1 and "model models/sd15 has no known licence" in res.output


def test_policy_errors_are_located(make_project):
    root = make_project(extra_config='\n[policy]\nallowed_licenses = "MIT"\n')
    lines = (root / "assetforge.toml").read_text().splitlines()
    line = lines.index('allowed_licenses = "MIT"') + 1
    res = run_cli(root, "build", "--check")
    assert res.exit_code == 2
    assert f"assetforge.toml:{line}: policy.allowed_licenses: expected a list" in res.output


def test_derived_output_inherits_licences_of_its_recorded_input(make_project):
    """A derived output (the graph branch's ``JOB/NAME`` rows) names its source by hash in its
    recipe's ``inputs``; its licences are those of the record that produced that hash. The
    derived row is written here as that contract describes it (no derived-output step exists
    on this branch yet)."""
    from conftest import BASE_CONFIG

    from assetforge.db import Store

    root = make_project({"manifests/a.toml": '[texture.a]\nprompt = "stone"\n'},
                        config=BASE_CONFIG.replace('source = "builtin:tiny-sd15"',
                                                   'source = "builtin:tiny-sd15"\n'
                                                   'license = "CC-BY-4.0"'))
    assert run_cli(root, "build").exit_code == 0
    store = Store(root / ".assetforge" / "assetforge.db")
    try:
        with sqlite3.connect(store.path) as db:
            source_hash, row = db.execute("SELECT output_hash, build_id FROM generations "
                                          "WHERE job_id='a'").fetchone()
        recipe = {"recipe_version": 1, "step": {"name": "pbr", "version": "1", "params": {}},
                  "inputs": {"source": source_hash}}
        store.insert_generations([dict(
            build_id=row, asset_id="a", job_id="a/normal", kind="texture", view=None,
            recipe_hash="sha256:" + "0" * 64, recipe_json=json.dumps(recipe), prompt="",
            negative_prompt="", seed=0, model_name="", model_hash="", plugin_versions_json="{}",
            output_path="textures/a_normal.png", output_hash="sha256:" + "1" * 64,
            status="ok")])
    finally:
        store.close()
    res = run_cli(root, "licenses", "--json")
    outputs = {o["job"]: o for o in json.loads(res.stdout)["outputs"]}
    assert outputs["a/normal"]["licenses"] == []
    (inherited,) = outputs["a/normal"]["inherited"]
    assert inherited["license"] == "CC-BY-4.0" and inherited["via"] == "source"
    assert inherited["file"] == "builtin:tiny-sd15"
