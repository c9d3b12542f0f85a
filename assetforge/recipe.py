"""Recipes: the canonical description of one image, and its tagged hash (the cache key).

Only what changes output bytes goes in. Asset id, output path, timings, host and library
versions are metadata recorded beside the recipe, never inside it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .hashing import json_hash
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
    views = spec.get("views")
    if isinstance(views, dict):
        return views[view]
    return f"{view} view"


def make_jobs(spec: AssetSpec, salt: str, default_model: str | None, folder: str) -> list[Job]:
    """Split an (expanded) asset into jobs, one per view; views share the seed."""
    f = spec.fields
    seed = f["seed"] if "seed" in f else derive_seed(spec.id, salt)
    jobs = []
    for view in view_names(spec):
        prompt = f["prompt"] if view is None else f"{f['prompt']}, {_view_suffix(spec, view)}"
        jobs.append(Job(
            asset_id=spec.id, kind=spec.kind, view=view, prompt=prompt,
            negative_prompt=f.get("negative_prompt", ""), seed=seed,
            width=f["width"], height=f["height"], steps=f["steps"],
            guidance=float(f["guidance"]), scheduler=f["scheduler"],
            model=f.get("model") or default_model or "",
            output=output_path(spec, view, folder), spec=spec,
        ))
    return jobs


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
        "plugins": {p.plugin: {"version": p.version, "params": p.params}
                    for p in sorted(parts, key=lambda p: p.plugin)},
    }


def recipe_hash(recipe: dict[str, Any]) -> str:
    return json_hash(recipe)


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
