"""canonical_json (the text every cache key hashes) equals json.dumps with the canonical options,
including after its per-process cache of nested tables has seen look-alike values."""

from __future__ import annotations

import json
import math

import pytest

from assetforge.hashing import canonical_json, json_hash
from assetforge.recipe import recipe_hash


def reference(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


RECIPE = {
    "recipe_version": 1, "prompt": "stone floor, «mossy», 石", "negative_prompt": "",
    "seed": 3115421801, "width": 64, "height": 96, "steps": 2, "guidance": 7.5,
    "scheduler": "euler_a", "model": {"hash": "sha256:ab", "family": "sd15"},
    "generator": {"name": "diffusers", "version": "0.1.0", "scheduler_config": {},
                  "dtype": "float32", "batch_size": 1},
    "plugins": {"lora": {"version": "0.1.0", "params": {"styles": [
        {"name": "ink", "weight": 0.8, "loras": [{"hash": "sha256:cd", "weight": 1}]}]}}},
}

CASES = [
    RECIPE,
    {},
    {"b": 1, "a": [1, 2.5, "x", None, True, False, {"z": {}, "y": []}]},
    {"n": -0.0, "big": 2**70, "neg": -3, "f": 1e-300, "g": 1.5e300},
    {"quote": 'a "b" \\ \n\t\x00\x1f', "emoji": "🙂", "nested": {"k": "\u2028"}},
    {"t": (1, 2), "l": [1, 2]},  # a tuple is written as an array
    [RECIPE, {"a": 1}],  # not a table at the top
    "plain string",
    3,
    {"outer": {2: "two", 10: "ten"}},  # JSON turns keys into strings, sorted as numbers
]


@pytest.mark.parametrize("obj", CASES, ids=range(len(CASES)))
def test_same_text_as_json_dumps(obj):
    assert canonical_json(obj) == reference(obj)
    assert canonical_json(obj) == reference(obj)  # again, now from the cache


def test_equal_but_differently_typed_values_never_share_a_cache_entry():
    # 1 == 1.0 == True in Python, but JSON writes 1, 1.0 and true: different keys.
    seen = set()
    for value in (1, 1.0, True, "1", [1], (1,), {"v": 1}, {"v": 1.0}, {"v": True}):
        for _ in range(2):
            for obj in ({"a": {"x": value}}, {"a": [value]}, {"a": value}):
                assert canonical_json(obj) == reference(obj)
        seen.add(canonical_json({"a": {"x": value}}))
    assert len(seen) == 8  # (1,) and [1] are the same JSON


def test_top_level_int_keys_fall_back():
    obj = {10: "a", 9: "b"}  # sorted as numbers, then written as strings
    assert canonical_json(obj) == reference(obj) == '{"9":"b","10":"a"}'


@pytest.mark.parametrize("obj", [{"g": math.nan}, {"p": {"g": math.inf}}, {"x": [-math.inf]},
                                 {"s": {1, 2}}, {"o": object()}, {1: "a", "b": 2}])
def test_what_json_refuses_is_refused(obj):
    with pytest.raises((ValueError, TypeError)) as expected:
        reference(obj)
    with pytest.raises(expected.type):
        canonical_json(obj)


def variant(**changes):
    out = json.loads(json.dumps(RECIPE))
    for k, v in changes.items():
        if v is None:
            del out[k]
        else:
            out[k] = v
    return out


@pytest.mark.parametrize("recipe", [
    RECIPE, variant(guidance=7), variant(seed=True), variant(steps=2.0), variant(prompt=""),
    variant(prompt='say "hi"\n\t\u2028 ✓'), variant(extra="x"), variant(plugins=None),
    variant(plugins={}), variant(model=["sha256:ab", "sd15"]), variant(width=2**40),
    variant(negative_prompt=None), variant(guidance=-0.0), variant(guidance=1e-7),
], ids=range(14))
def test_recipe_hash_matches_the_reference_for_any_recipe_shape(recipe):
    import hashlib

    assert recipe_hash(recipe) == "sha256:" + hashlib.sha256(
        reference(recipe).encode("utf-8")).hexdigest()


def test_recipes_as_make_recipe_makes_them_take_the_spelled_out_path():
    from assetforge.recipe import _recipe_text

    assert _recipe_text(RECIPE) == reference(RECIPE)
    assert _recipe_text(variant(guidance=7)) is None  # an int: left to canonical_json


@pytest.mark.parametrize("recipe", [
    {**RECIPE, "inputs": {"init_image": "sha256:ab", "control.0.image": "sha256:cd"}},
    {**RECIPE, "inputs": {"é\"x": "sha256:ab"}},
    {**RECIPE, "inputs": {}},
    {**RECIPE, "inputs": {"a": 1}},
    {"recipe_version": 1, "inputs": {"image": "sha256:ab"}, "plugins": {}},
    {"recipe_version": 1, "inputs": {"image": "sha256:ab"},
     "plugins": {"seamless": {"version": "1", "params": {"tiling": "both"}}}},
    {"recipe_version": 1, "inputs": {"image": None}, "plugins": {}},
], ids=range(7))
def test_recipes_with_inputs_hash_like_the_reference(recipe):
    import hashlib

    from assetforge.recipe import _recipe_text

    text = _recipe_text(recipe)
    assert text is None or text == reference(recipe)
    assert recipe_hash(recipe) == "sha256:" + hashlib.sha256(
        reference(recipe).encode("utf-8")).hexdigest()


def test_recipes_with_inputs_take_the_spelled_out_path():
    from assetforge.recipe import _recipe_text

    with_inputs = {**RECIPE, "inputs": {"init_image": "sha256:ab"}}
    file_sourced = {"recipe_version": 1, "inputs": {"image": "sha256:ab"}, "plugins": {}}
    assert _recipe_text(with_inputs) == reference(with_inputs)
    assert _recipe_text(file_sourced) == reference(file_sourced)


def test_recipe_hash_refuses_nan_like_json():
    with pytest.raises(ValueError):
        recipe_hash(variant(guidance=math.nan))


def test_recipe_hash_is_sha256_of_the_canonical_text():
    import hashlib

    digest = hashlib.sha256(reference(RECIPE).encode("utf-8")).hexdigest()
    assert recipe_hash(RECIPE) == json_hash(RECIPE) == f"sha256:{digest}"
    changed = json.loads(json.dumps(RECIPE))
    changed["plugins"]["lora"]["params"]["styles"][0]["weight"] = 0.9
    assert recipe_hash(changed) != recipe_hash(RECIPE)
