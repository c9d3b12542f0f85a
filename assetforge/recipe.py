"""Recipes: the canonical description of one image, and its tagged hash (the cache key).

Only what changes output bytes goes in. Asset id, output path, timings, host and library
versions are metadata recorded beside the recipe, never inside it.
"""

from __future__ import annotations

import hashlib
import math
from json.encoder import encode_basestring
from typing import Any

from .hashing import bytes_hash, fragments, json_hash
from .interfaces import AssetSpec, Generator, Job, ModelIdentity, RecipePart
from .manifest import output_path, view_names

RECIPE_VERSION = 1


def derive_seed(asset_id: str, salt: str = "", view: str | None = None) -> int:
    """A seed from the asset id (and project salt): machines agree without talking.

    Views of a character share the asset's seed, so ``view`` is deliberately unused.
    """
    digest = hashlib.sha256(f"assetforge-seed:{salt}:{asset_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _view_suffix(spec: AssetSpec, view: str) -> str:
    if spec.animations and "/" in view:  # an animation frame: its animation's suffix
        return spec.animations[view.partition("/")[0]].suffix
    views = spec.get("views")
    if isinstance(views, dict):
        value = views[view]
        if isinstance(value, dict):  # a view table: { suffix = …, control = … }
            return value.get("suffix", f"{view} view")
        return value
    return f"{view} view"


def make_jobs(spec: AssetSpec, salt: str, default_model: str | None, folder: str) -> list[Job]:
    """Split an (expanded) asset into jobs, one per view; views share the seed."""
    f = spec.fields
    seed = f["seed"] if "seed" in f else derive_seed(spec.id, salt)
    prompt, negative = f["prompt"], f.get("negative_prompt", "")
    width, height, steps = f["width"], f["height"], f["steps"]
    guidance, scheduler = float(f["guidance"]), f["scheduler"]
    model = f.get("model") or default_model or ""
    # Positional: planning makes one Job per asset, and keywords cost a third more.
    if not f.get("views") and not spec.animations:  # most assets: one job
        return [Job(spec.id, spec.kind, None, prompt, negative, seed, width, height, steps,
                    guidance, scheduler, model, output_path(spec, None, folder), spec)]
    return [Job(spec.id, spec.kind, view,
                prompt if view is None else f"{prompt}, {_view_suffix(spec, view)}",
                negative, seed, width, height, steps, guidance, scheduler, model,
                output_path(spec, view, folder), spec)
            for view in view_names(spec)]


def make_recipe(job: Job, model: ModelIdentity, generator: Generator,
                parts: list[RecipePart]) -> dict[str, Any]:
    return {
        "recipe_version": RECIPE_VERSION,
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "seed": job.seed,
        "width": job.width,
        "height": job.height,
        "steps": job.steps,
        "guidance": job.guidance,
        "scheduler": job.scheduler,
        "model": {"hash": model.hash, "family": model.family},
        "generator": {"name": generator.name, "version": generator.version,
                      **generator.recipe_fields(job, model)},
        "plugins": plugin_table(parts),
    }


def plugin_table(parts: list[RecipePart]) -> dict[str, Any]:
    return {p.plugin: {"version": p.version, "params": p.params}
            for p in (sorted(parts, key=_by_plugin) if len(parts) > 1 else parts)}


def _by_plugin(part: RecipePart) -> str:
    return part.plugin


def recipe_hash(recipe: dict[str, Any]) -> str:
    """The cache key: the tagged sha256 of the recipe's canonical JSON."""
    text = _recipe_text(recipe)
    return json_hash(recipe) if text is None else bytes_hash(text.encode("utf-8"))


_RECIPE_KEYS = frozenset(("recipe_version", "prompt", "negative_prompt", "seed", "width",
                          "height", "steps", "guidance", "scheduler", "model", "generator",
                          "plugins"))
_WITH_INPUTS = _RECIPE_KEYS | {"inputs"}
_FILE_KEYS = frozenset(("recipe_version", "inputs", "plugins"))


def _inputs_text(inputs: Any) -> str | None:
    """Canonical JSON of an ``inputs`` table (name → tagged hash), or None if not that."""
    if type(inputs) is not dict:
        return None
    parts = []
    for k in sorted(inputs):
        v = inputs[k]
        if type(k) is not str or type(v) is not str:
            return None
        parts.append(f"{encode_basestring(k)}:{encode_basestring(v)}")
    return "{" + ",".join(parts) + "}"


def _recipe_text(r: dict[str, Any]) -> str | None:
    """``canonical_json(r)`` for a recipe as make_recipe makes it (with or without
    ``inputs``), or a file-sourced asset's, spelled out (a no-op build hashes one per job and
    this is twice as fast); None for anything else.
    tests/test_canonical_json.py checks that both agree."""
    keys = r.keys()
    if keys != _RECIPE_KEYS:
        if keys == _FILE_KEYS:
            i_text, version, plugins = _inputs_text(r["inputs"]), r["recipe_version"], r["plugins"]
            if i_text is None or type(version) is not int or type(plugins) is not dict:
                return None
            return (f'{{"inputs":{i_text},"plugins":{fragments(plugins)[0]},'
                    f'"recipe_version":{version}}}')
        if keys != _WITH_INPUTS:
            return None
        i_text = _inputs_text(r["inputs"])
        if i_text is None:
            return None
        text = _recipe_text({k: v for k, v in r.items() if k != "inputs"})
        if text is None:
            return None
        cut = text.index(',"model":')  # "inputs" sorts between "height" and "model"
        return f'{text[:cut]},"inputs":{i_text}{text[cut:]}'

    prompt, negative, scheduler = r["prompt"], r["negative_prompt"], r["scheduler"]
    version, seed, width, height, steps = (r["recipe_version"], r["seed"], r["width"],
                                           r["height"], r["steps"])
    guidance, model, generator, plugins = r["guidance"], r["model"], r["generator"], r["plugins"]
    if not (type(prompt) is str and type(negative) is str and type(scheduler) is str
            and type(version) is int and type(seed) is int and type(width) is int
            and type(height) is int and type(steps) is int and type(guidance) is float
            and math.isfinite(guidance) and type(model) is dict and type(generator) is dict
            and type(plugins) is dict):
        return None
    # The three tables are the same for most jobs of a project: remembered together.
    g_text, m_text, p_text = fragments(generator, model, plugins)
    return (f'{{"generator":{g_text},"guidance":{float.__repr__(guidance)},'
            f'"height":{height},"model":{m_text},'
            f'"negative_prompt":{encode_basestring(negative)},"plugins":{p_text},'
            f'"prompt":{encode_basestring(prompt)},"recipe_version":{version},'
            f'"scheduler":{encode_basestring(scheduler)},"seed":{seed},"steps":{steps},'
            f'"width":{width}}}')


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict) and obj:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def recipe_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted names of recipe fields that differ, e.g. ``['prompt', 'plugins.lora.params.…']``."""
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, _MISSING) != b.get(k, _MISSING))


_MISSING = object()
