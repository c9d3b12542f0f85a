"""Recipes and hashes: canonical, tagged, sensitive to what changes bytes and nothing else."""

from __future__ import annotations

import json

from helpers import run_cli

from assetforge.hashing import canonical_json, json_hash
from assetforge.recipe import recipe_diff
from assetforge.tomlpos import key_lines


def test_hash_is_tagged_and_order_independent():
    a = json_hash({"b": 1, "a": [1, 2]})
    assert a.startswith("sha256:") and len(a) == len("sha256:") + 64
    assert a == json_hash({"a": [1, 2], "b": 1})
    assert a != json_hash({"a": [2, 1], "b": 1})
    assert canonical_json({"é": 1.5}) == '{"é":1.5}'


def test_recipe_diff_names_fields():
    old = {"prompt": "a", "seed": 1, "plugins": {"lora": {"params": {"w": 1}}}}
    new = {"prompt": "b", "seed": 1, "plugins": {"lora": {"params": {"w": 2}}}}
    assert recipe_diff(old, new) == ["plugins.lora.params.w", "prompt"]


def _recipe(root, asset):
    return json.loads(run_cli(root, "show", asset, "--json").stdout)["jobs"][0]["recipe"]


def test_metadata_does_not_enter_the_recipe(make_project):
    base = '[texture.a]\nprompt = "a"\n'
    root = make_project({"manifests/a.toml": base})
    before = _recipe(root, "a")
    (root / "manifests" / "a.toml").write_text(
        base + 'description = "for people"\ntags = ["x"]\noutput = "elsewhere/a.png"\n')
    assert _recipe(root, "a") == before
    (root / "manifests" / "a.toml").write_text(base + "steps = 3\n")
    assert recipe_diff(before, _recipe(root, "a")) == ["steps"]


def test_kind_defaults_apply_and_are_overridden(make_project):
    root = make_project({"manifests/a.toml": '[tile.t]\nprompt = "t"\n\n[tile.u]\nprompt = "u"\n'
                                             'width = 128\n'})
    assert _recipe(root, "t")["width"] == 64  # from [kinds.tile] in assetforge.toml
    assert _recipe(root, "u")["width"] == 128


def test_key_lines_finds_tables_and_keys():
    text = '# c\n[texture.a]\nprompt = """x\ny = 1\n"""\nsteps = [\n 1,\n]\nseed = 3\n' \
           '[texture."b c"]\nprompt = "z"\n'
    lines = key_lines(text)
    assert lines[("texture", "a")] == 2
    assert lines[("texture", "a", "prompt")] == 3
    assert ("texture", "a", "y") not in lines  # inside a multi-line string
    assert lines[("texture", "a", "seed")] == 9
    assert lines[("texture", "b c", "prompt")] == 11
