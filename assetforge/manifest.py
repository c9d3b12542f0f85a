"""Manifest files → validated ``AssetSpec``s. Every error of a run is collected and reported
at once as ``file:line: key: what was expected``; nothing is generated when there is one."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from . import animations
from .errors import Location, Problem, UserError
from .interfaces import AssetKind, AssetSpec, ManifestKey, SourceFile
from .plancache import PlanCache
from .plugins import Plugins
from .project import Project, fs_limits, path_too_long, type_names
from .suggest import did_you_mean
from .tomlpos import parse

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")


def manifest_files(project: Project) -> list[Path]:
    files: set[Path] = set()
    for pattern in project.manifest_globs:
        try:
            files.update(p for p in project.root.glob(pattern) if p.is_file())
        except (ValueError, NotImplementedError, OSError) as e:
            raise UserError([Problem(project.where("project", "manifests"),
                                     "project.manifests", f"{pattern!r}: {e}")]) from None
    return sorted(files)


def _parse(path: Path, cache: PlanCache, problems: list[Problem]) -> tuple[dict, SourceFile]:
    try:
        st = path.stat()
        data = cache.parsed(path, st)
        if data is not None:
            return data, SourceFile(path)
        raw = path.read_bytes()
    except OSError as e:
        problems.append(Problem(Location(path), None, f"cannot read: {e.strerror or e}"))
        return {}, SourceFile(path, "")
    data = cache.parsed_by_content(path, st, raw)
    if data is not None:
        return data, SourceFile(path)
    try:
        data, text = parse(path, raw)
    except UserError as e:
        problems += e.problems
        return {}, SourceFile(path, raw.decode("utf-8", "replace"))
    cache.put_parsed(path, st, raw, data)
    return data, SourceFile(path, text)


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False  # TOML true is not a number
    return isinstance(value, types)


def check_value(key: ManifestKey, value: Any) -> str | None:
    if not _type_ok(value, key.types):
        return f"expected {type_names(key.types)}, got {_toml_type(value)}"
    return key.check(value) if key.check else None


def _toml_type(value: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a float", bool: "a boolean",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def check_fields(fields: dict[str, Any], kind: str, keys: dict[str, ManifestKey],
                 where, prefix: str = "") -> list[Problem]:
    """Type-check ``fields`` of an asset of ``kind``; ``where(key)`` locates a key."""
    problems = []
    for name, value in fields.items():
        spec = keys.get(name)
        if spec is None or (spec.kinds and kind not in spec.kinds):
            hint = did_you_mean(name, [k for k, s in keys.items()
                                       if not s.kinds or kind in s.kinds])
            if spec is not None:
                hint = f" for a {kind} (only for: {', '.join(spec.kinds)})"
            problems.append(Problem(where(name), prefix + name, "unknown key" + hint))
            continue
        msg = check_value(spec, value)
        if msg:
            problems.append(Problem(where(name), prefix + name, msg))
    return problems


def _fields_ok(fields: dict[str, Any], kind: str, keys: dict[str, ManifestKey]) -> bool:
    """check_fields() finds nothing; the per-asset fast path of a valid manifest."""
    for name, value in fields.items():
        key = keys.get(name)
        if key is None or (key.kinds and kind not in key.kinds) or check_value(key, value):
            return False
    return True


def load_specs(project: Project, plugins: Plugins,
               cache: PlanCache | None = None) -> list[AssetSpec]:
    """Read, merge defaults into, and validate every manifest entry of ``project``.

    ``cache`` (made with a context, see plancache.py): assets of a file validated before
    under the same context are not validated again; without one, only parses are cached."""
    kinds = plugins.asset_kinds()
    keys = plugins.manifest_keys()
    problems: list[Problem] = []

    # Kind defaults in assetforge.toml are manifest keys too, located in that file.
    kind_defaults: dict[str, dict[str, Any]] = {}
    for kind, table in project.config.get("kinds", {}).items():
        if kind not in kinds:
            problems.append(Problem(project.where("kinds", kind), f"kinds.{kind}",
                                    "unknown asset kind" + did_you_mean(kind, kinds)))
            continue
        if not isinstance(table, dict):
            problems.append(Problem(project.where("kinds", kind), f"kinds.{kind}",
                                    "expected a table of default keys"))
            continue
        problems += check_fields(table, kind, keys, lambda k, kind=kind: project.where(
            "kinds", kind, k), prefix=f"kinds.{kind}.")
        kind_defaults[kind] = table

    base = kind_bases(kinds, kind_defaults)
    step_kinds = {k for k, kind in kinds.items() if kind.step is not None}
    own_cache = cache is None
    if cache is None:
        cache = PlanCache(project)
    files = manifest_files(project)
    specs: list[AssetSpec] = []
    seen: dict[str, AssetSpec] = {}
    checked: set[str] = set()  # ids of assets validated here (not by an earlier plan)
    for path in files:
        data, source = _parse(path, cache, problems)
        valid = cache.validated(path)
        for kind, table in data.items():
            if kind not in kinds:
                problems.append(Problem(Location(path, source.line_of(kind)), kind,
                                        "unknown asset kind" + did_you_mean(kind, kinds)
                                        + f"; expected tables like [{next(iter(kinds))}.ID]"))
                continue
            if not isinstance(table, dict):
                problems.append(Problem(Location(path, source.line_of(kind)), kind,
                                        f"expected tables like [{kind}.ID]"))
                continue
            bases = base[kind]
            if valid:  # validated by an earlier plan: only ids across files are compared
                for asset_id, entry in table.items():
                    if asset_id in seen:
                        spec = AssetSpec(asset_id, kind, {}, source)
                        problems.append(Problem(spec.location, f"{kind}.{asset_id}",
                                                f"duplicate asset id (also defined at "
                                                f"{seen[asset_id].location})"))
                        continue
                    # make_spec, inlined: one per asset of a no-op plan
                    spec = AssetSpec(asset_id, kind, {**bases, **entry}, source,
                                     frozenset(entry))
                    if "animations" in spec.fields:  # poses are globbed anew: files may come
                        problems += animations.expand(spec, project.root)
                    seen[asset_id] = spec
                    specs.append(spec)
                continue
            for asset_id, entry in table.items():
                spec = AssetSpec(asset_id, kind, {}, source)
                if not isinstance(entry, dict):
                    problems.append(Problem(spec.location, f"{kind}.{asset_id}",
                                            f"expected a table [{kind}.{asset_id}]"))
                    continue
                if not ID_RE.fullmatch(asset_id):
                    problems.append(Problem(spec.location, f"{kind}.{asset_id}",
                                            "asset ids use letters, digits, '_' and '-' only"))
                    continue
                if asset_id in seen:
                    problems.append(Problem(spec.location, f"{kind}.{asset_id}",
                                            f"duplicate asset id (also defined at "
                                            f"{seen[asset_id].location})"))
                    continue
                checked.add(asset_id)
                if not _fields_ok(entry, kind, keys):  # then say what is wrong
                    problems += check_fields(entry, kind, keys, spec.where,
                                             prefix=f"{kind}.{asset_id}.")
                if ("prompt" not in entry or "image" in entry or kind in step_kinds
                        or type(entry.get("views")) is dict):  # else: a plain prompted asset
                    problems += _source_problems(spec, entry, kinds[kind], keys)
                spec = make_spec(asset_id, kind, entry, source, base)
                if "animations" in spec.fields and isinstance(spec.fields["animations"], dict) \
                        and animations.check(spec.fields["animations"]) is None:
                    problems += animations.expand(spec, project.root)
                seen[asset_id] = spec
                specs.append(spec)
    if not problems:
        problems += _check_references(project, plugins, specs, kinds, cache, checked)
    if not problems:
        for spec in specs:
            if spec.id not in checked:
                continue  # validated by an earlier plan, nothing it depends on changed
            project._deps = {}
            try:
                for _name, found in plugins.call_for("validate_spec", spec.fields, spec=spec,
                                                     project=project):
                    problems += found
            finally:
                cache.note_deps(spec.id, project._deps)
                project._deps = None
    if problems:
        raise UserError(list(dict.fromkeys(problems)))  # one broken shared file: one report
    cache.live = {str(p) for p in files}
    if own_cache:
        cache.save(cache.live)
    return specs


def kind_bases(kinds: dict[str, AssetKind],
               configured: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per kind, its built-in defaults under assetforge.toml's ``[kinds.X]`` defaults."""
    return {k: {**kinds[k].defaults, **configured.get(k, {})} for k in kinds}


def make_spec(asset_id: str, kind: str, entry: dict[str, Any], source: SourceFile,
              bases: dict[str, dict[str, Any]]) -> AssetSpec:
    """The spec of manifest table ``[kind.asset_id]``: its keys over its kind's defaults
    (``kind_bases``). The one place a spec is built, validated or not (tests use it too)."""
    return AssetSpec(asset_id, kind, {**bases[kind], **entry}, source, frozenset(entry))


def _check_references(project: Project, plugins: Plugins, specs: list[AssetSpec],
                      kinds: dict[str, AssetKind], cache: PlanCache | None = None,
                      checked: set[str] | None = None) -> list[Problem]:
    """Model names, scheduler names and output collisions: checks across tables. Assets not
    in ``checked`` had their names checked by an earlier plan (the cache's context holds
    the config): only their outputs are compared with the others'."""
    problems = []
    models = project.models
    outputs: dict[str, AssetSpec] = {}
    default_model = project.default_model
    generators: dict[str, Any] = {}  # per model name: handles() may touch the disk
    families: dict[str, str] = {}
    # (model name, scheduler) -> error message or None; schedulers are strings by now
    sched_msgs: dict[tuple[str, str], str | None] = {}
    # Output paths must fit the file system: only a long one needs a closer look.
    prefix, limits = project.output_prefix, fs_limits(project.output_dir)
    room = min(limits) - len(os.fsencode(prefix))
    for spec in specs:
        if not generated(spec, kinds):  # file-sourced or built by a step: no model
            continue
        if checked is not None and spec.id not in checked:
            problems += _collisions(spec, kinds, outputs, project)
            continue
        name = spec.fields.get("model") or default_model
        if name is None:
            problems.append(Problem(spec.location, f"{spec.kind}.{spec.id}.model",
                                    "missing, and assetforge.toml has no default_model "
                                    f"(models: {', '.join(models) or 'none'})"))
            continue
        if name not in models:
            problems.append(Problem(_locator(project, spec)("model"),
                                    f"{spec.kind}.{spec.id}.model",
                                    f"unknown model {name!r}" + did_you_mean(name, models)
                                    + f"; add a [models.{name}] table to assetforge.toml"))
            continue
        sched = spec.fields.get("scheduler")
        if (name, sched) in sched_msgs:
            msg = sched_msgs[name, sched]
        else:
            gen = generators.get(name)
            if gen is None:
                gen = generators[name] = plugins.generator_for(models[name])
            msg = None
            if sched not in gen.schedulers:
                msg = (f"unknown scheduler {sched!r}" + did_you_mean(sched, gen.schedulers)
                       + f"; known: {', '.join(gen.schedulers)}")
            else:  # some schedulers suit only some model families
                if name not in families:
                    families[name] = gen.identify(models[name], project).family
                msg = gen.validate_scheduler(sched, families[name])
            sched_msgs[name, sched] = msg
        if msg:
            problems.append(Problem(_locator(project, spec)("scheduler"),
                                    f"{spec.kind}.{spec.id}.scheduler", msg))
        problems += _collisions(spec, kinds, outputs, project, prefix, limits, room)
    return problems


def _collisions(spec: AssetSpec, kinds: dict[str, AssetKind], outputs: dict[str, AssetSpec],
                project: Project, prefix: str = "", limits: tuple[int, int] | None = None,
                room: int = 0) -> list[Problem]:
    """An output path too long for the file system (``limits`` given), or one another asset
    writes too."""
    problems = []
    for out in output_paths(spec, kinds[spec.kind].output_dir):
        too_long = (path_too_long(Path(prefix + out), limits=limits)
                    if limits is not None and len(out) * 4 >= room else None)  # 4 bytes/char
        if too_long:
            key = "output" if "output" in spec.fields else "views"
            shown = out if len(out) <= 60 else out[:57] + "..."
            problems.append(Problem(_locator(project, spec)(key),
                                    f"{spec.kind}.{spec.id}.{key}", f"writes {shown}: "
                                    f"{too_long}"))
            continue
        other = outputs.get(out.lower())
        if other is not None and other is not spec:
            problems.append(Problem(_locator(project, spec)("output"),
                                    f"{spec.kind}.{spec.id}.output",
                                    f"writes {out}, as does asset {other.id!r} "
                                    f"({other.location})"))
        outputs[out.lower()] = spec
    return problems


def generated(spec: AssetSpec, kinds: dict[str, AssetKind]) -> bool:
    """Painted by a model (not file-sourced, not built by a kind's step)."""
    return "image" not in spec.fields and kinds[spec.kind].step is None


def _source_problems(spec: AssetSpec, entry: dict[str, Any], kind: AssetKind,
                     keys: dict[str, ManifestKey]) -> list[Problem]:
    """Where the image comes from: a prompt, a file (``image``) or the kind's step; and the
    keys inside view tables, type-checked like top-level keys."""
    problems = []
    name = f"{spec.kind}.{spec.id}"
    if kind.step is not None:
        for key in ("prompt", "image"):
            if key in entry:
                problems.append(Problem(spec.where(key), f"{name}.{key}",
                                        f"a {spec.kind} is built by the {kind.step.name!r} "
                                        f"step from other assets: no {key}"))
    elif "image" in entry:
        if "prompt" in entry:
            problems.append(Problem(spec.where("prompt"), f"{name}.prompt",
                                    "a file-sourced asset (image = …) has no prompt"))
    elif "prompt" not in entry:
        problems.append(Problem(spec.location, f"{name}.prompt",
                                "missing (every asset needs a prompt, or image = a file)"))
    views = entry.get("views")
    if isinstance(views, dict):
        for view, table in views.items():
            if isinstance(table, dict):
                inner = {k: v for k, v in table.items() if k != "suffix"}
                problems += check_fields(
                    inner, spec.kind, keys,
                    lambda k, v=view: Location(spec.source.path, spec.source.line_of(
                        spec.kind, spec.id, "views", v, k)),
                    prefix=f"{name}.views.{view}.")
    return problems


def _locator(project: Project, spec: AssetSpec):
    def where(key: str) -> Location:
        if key in spec.explicit:
            return spec.where(key)
        if key in project.kind_defaults(spec.kind):
            return project.where("kinds", spec.kind, key)
        return spec.location
    return where


def view_names(spec: AssetSpec) -> list[str | None]:
    """The jobs of ``spec`` by view: its views (or None), then its animation frames."""
    views = spec.fields.get("views")
    names: list[str | None] = list(views) if views else [None]
    if spec.animations:
        names += [f for a in spec.animations.values() for f in a.frames]
    return names


def output_path(spec: AssetSpec, view: str | None, folder: str) -> str:
    """Output path relative to output_dir (POSIX): ``output``, else ``folder/ID[_VIEW].png``."""
    out = spec.fields.get("output")
    if view is not None and "/" in view:  # an animation frame NAME/K: ID_NAME_KK.png
        view = animations.frame_tag(view)
    if out:
        out = out.replace("\\", "/")
        if view is None:
            return out
        if "{view}" in out:
            return out.replace("{view}", view)
        stem, dot, ext = out.rpartition(".")
        return f"{stem}_{view}.{ext}"
    return f"{folder}/{spec.id}_{view}.png" if view else f"{folder}/{spec.id}.png"


def output_paths(spec: AssetSpec, folder: str) -> list[str]:
    return [output_path(spec, v, folder) for v in view_names(spec)]
