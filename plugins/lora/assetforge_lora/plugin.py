"""AssetForge plugin: LoRA style packs (``styles/NAME/style.toml`` + .safetensors files).

A manifest asks for ``style = "NAME"`` or ``styles = [{name = "A", weight = 0.8}, ...]``;
expansion adds each pack's prompt text, the recipe records every LoRA file's content hash, and
during generation the packs' LoRAs are loaded once onto the pipeline and weighted per asset.
Importing this module stays cheap: no torch until something is generated.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from assetforge.api import (
    AssetSpec,
    GenerationContext,
    Job,
    Location,
    ManifestKey,
    Problem,
    Project,
    RecipePart,
    UserError,
    WeightLicense,
    did_you_mean,
    for_keys,
    hookimpl,
    safetensors_license,
)

from . import __version__
from .compose import (
    KEYS,
    RESOLVED,
    Request,
    check_style_name,
    check_styles_list,
    compose,
    locate,
    problem_key,
    requested,
)
from .packs import StylePack, available, load_pack, pack_toml, styles_dir

if TYPE_CHECKING:
    from .adapters import Wanted

PLUGIN = "lora"
BUILTIN_FAMILIES = {"builtin:tiny-sd15": "sd15", "builtin:tiny-sdxl": "sdxl",
                    "builtin:tiny-sd3": "sd3"}


@hookimpl
def register_manifest_keys() -> list[ManifestKey]:
    """``style`` (one pack, weight 1) and ``styles`` (several packs with weights)."""
    return [
        ManifestKey("style", (str,), "a style pack: the folder styles/NAME ('' for none)",
                    check=check_style_name),
        ManifestKey("styles", (list,), "style packs with weights: "
                    "[{name = \"A\", weight = 0.8}, {name = \"B\", weight = 0.4}]",
                    check=check_styles_list),
    ]


@hookimpl
@for_keys(*KEYS)
def validate_spec(spec: AssetSpec, project: Project) -> list[Problem] | None:
    """Every named style exists and parses; pickled LoRAs need allow_pickle; families agree."""
    requests, problems = requested(spec, project)
    if problems or not requests:
        return problems or None
    names = None
    for req in requests:
        where = locate(spec, project, req.key)
        if not pack_toml(project, req.name).is_file():
            names = available(project) if names is None else names
            folder = project.rel(styles_dir(project))
            problems.append(Problem(where, problem_key(spec, req.key),
                                    f"unknown style {req.name!r}" + did_you_mean(req.name, names)
                                    + f"; style packs in {folder}/: "
                                    + (", ".join(names) or "none")))
            continue
        try:
            pack = load_pack(project, req.name)
        except UserError as e:
            problems += e.problems
            continue
        problems += _pack_policy(pack, project)
        family = _model_family(spec, project)
        if pack.family and family and pack.family != family:
            problems.append(Problem(where, problem_key(spec, req.key),
                                    f"style {req.name!r} is for {pack.family} models "
                                    f"({project.rel(pack.toml)}), but this asset's model is "
                                    f"{family}"))
    return problems or None


@hookimpl
@for_keys(*KEYS)
def expand_spec(spec: AssetSpec, project: Project) -> None:
    """prompt = prefixes + trigger words + prompt + suffixes; negatives appended; styles recorded.

    Idempotent: a spec already expanded (``_styles`` set) is left alone.
    """
    if RESOLVED in spec.fields:
        return
    requests, problems = requested(spec, project)
    if problems:
        raise UserError(problems)
    if not requests:
        return
    packs = [_pack(project, spec, r) for r in requests]
    spec.fields["prompt"], spec.fields["negative_prompt"] = compose(
        spec.get("prompt", ""), spec.get("negative_prompt", ""), packs)
    spec.fields[RESOLVED] = [{"name": r.name, "weight": r.weight} for r in requests]


@hookimpl
@for_keys(*KEYS)
def recipe_parts(job: Job, project: Project) -> RecipePart | None:
    """Styles with weights, each style's settings hash and each LoRA file's content hash."""
    styles = job.spec.get(RESOLVED)
    if not styles:
        return None
    params = []
    for entry in styles:
        pack = _pack(project, job.spec, Request(entry["name"], entry["weight"], "style"))
        params.append({
            "name": pack.name,
            "weight": entry["weight"],
            "settings": pack.settings_hash,
            "loras": [{"hash": project.hash_file(lf.path), "weight": lf.weight}
                      for lf in pack.loras],
        })
    return RecipePart(PLUGIN, __version__, {"styles": params})


@hookimpl
def weight_licenses(job: Job, project: Project) -> list[WeightLicense] | None:
    """Each LoRA file of each style: style.toml's ``license``, else the file's header's."""
    out = []
    for entry in job.spec.get(RESOLVED) or []:
        pack = _pack(project, job.spec, Request(entry["name"], entry["weight"], "style"))
        declared = pack.get("license") or None
        for lf in pack.loras:
            found = declared or safetensors_license(lf.path)
            source = "style.toml" if declared else ("safetensors metadata" if found else "")
            out.append(WeightLicense("lora", pack.name, project.rel(lf.path), found, source))
    return out or None


@hookimpl
def generation_context(ctx: GenerationContext) -> AbstractContextManager[None] | None:
    """Load (once) and weight the job's LoRA adapters; switch them all off afterwards.

    A job without styles gets the base model: adapters left loaded for later jobs are disabled.
    """
    from .adapters import manager_for  # generation only: planning never imports it

    styles = ctx.job.spec.get(RESOLVED) or []
    wanted = _wanted(ctx, styles)
    if not wanted:
        mgr = manager_for(ctx.pipeline, create=False)
        if mgr is not None:
            mgr.deactivate(ctx.pipeline)
        return None
    return _styled(ctx, wanted)


@hookimpl
def watch_paths(project: Project) -> list[Path] | None:
    """The styles folder: editing a style.toml or replacing a LoRA file re-plans."""
    folder = styles_dir(project)
    return [folder] if folder.is_dir() else None


# -- helpers ---------------------------------------------------------------------------------

@contextmanager
def _styled(ctx: GenerationContext, wanted: list[tuple[Wanted, StylePack]]) -> Iterator[None]:
    from .adapters import DEFAULT_MAX_LOADED, manager_for, pipeline_family

    pipe = ctx.pipeline
    family = (ctx.recipe.get("model") or {}).get("family") or pipeline_family(pipe)
    for pack in {p.name: p for _, p in wanted}.values():
        if pack.family and family and pack.family != family:
            raise UserError([Problem(pack.where("family"), "family",
                                     f"style {pack.name!r} is for {pack.family} models, but model "
                                     f"{ctx.job.model!r} is {family} ({type(pipe).__name__})")])
    mgr = manager_for(pipe)
    if mgr is None:
        raise UserError(f"model {ctx.job.model!r}: the {ctx.generator} generator's "
                        f"{type(pipe).__name__} cannot load LoRA adapters")
    max_loaded = ctx.project.plugin_config(PLUGIN).get("max_loaded_adapters", DEFAULT_MAX_LOADED)
    if isinstance(max_loaded, bool) or not isinstance(max_loaded, int) or max_loaded < 1:
        raise UserError([Problem(ctx.project.where("plugins", PLUGIN, "max_loaded_adapters"),
                                 "plugins.lora.max_loaded_adapters",
                                 "expected a positive integer")])
    try:
        ctx.metrics.update(mgr.activate(pipe, [w for w, _ in wanted], model=ctx.job.model,
                                        allow_pickle=ctx.project.allow_pickle,
                                        max_loaded=max_loaded))
        yield
    finally:
        t0 = time.perf_counter()
        mgr.deactivate(pipe)
        ctx.metrics["lora_deactivate_s"] = round(time.perf_counter() - t0, 4)


def _wanted(ctx: GenerationContext, styles: list[dict]) -> list[tuple[Wanted, StylePack]]:
    from .adapters import Wanted, adapter_name

    out = []
    for entry in styles:
        pack = _pack(ctx.project, ctx.job.spec, Request(entry["name"], entry["weight"], "style"))
        for lf in pack.loras:
            name = adapter_name(ctx.project.hash_file(lf.path))
            out.append((Wanted(name, lf.path, lf.weight * entry["weight"]), pack))
    return out


def _pack(project: Project, spec: AssetSpec, req: Request) -> StylePack:
    if not pack_toml(project, req.name).is_file():
        raise UserError([Problem(locate(spec, project, req.key), problem_key(spec, req.key),
                                 f"unknown style {req.name!r}"
                                 + did_you_mean(req.name, available(project)))])
    # Hashed through the project: the plan cache then knows an asset depends on this file
    # (an edited style.toml plans its assets again).
    project.hash_file(pack_toml(project, req.name))
    return load_pack(project, req.name)


def _pack_policy(pack: StylePack, project: Project) -> list[Problem]:
    if project.allow_pickle:
        return []
    return [Problem(Location(pack.toml, lf.line), "lora.file",
                    f"{lf.path.name} is a pickle ({lf.path.suffix}), which can run code when "
                    "loaded; convert it to .safetensors or set allow_pickle = true under "
                    "[project] in assetforge.toml")
            for lf in pack.loras if lf.is_pickle]


def _model_family(spec: AssetSpec, project: Project) -> str | None:
    """The asset's model family when it is known without loading anything (builtin models)."""
    name = spec.get("model") or project.default_model
    model = project.models.get(name) if name else None
    return BUILTIN_FAMILIES.get(model.source) if model else None
