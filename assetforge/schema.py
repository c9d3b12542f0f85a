"""JSON Schemas (draft 2020-12) of the manifests and of ``assetforge.toml``, for editors.

Generated from what the loaded plugins register, never written by hand: every asset kind
(``register_asset_kinds``) is a table of tables, every ``ManifestKey`` a property with its
type, its help as the description, the kind's default and the key's own ``schema`` keywords
(ranges, enums, patterns). Names only the project knows become enums: its model tables and
the schedulers of its generators. taplo (the engine of VS Code's "Even Better TOML" and of
the TOML language servers of Neovim, Helix and Zed) reads them through ``.taplo.toml``.

The schemas must never be stricter than the validator (an editor would flag a manifest that
builds); where a check cannot be said in JSON Schema the schema says less, never more.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .manifest import ID_RE
from .tomlpos import MAX_KEY_CHARS as MAX_NAME
from .tomlpos import MAX_STRING_CHARS as MAX_STRING

if TYPE_CHECKING:
    from .interfaces import ManifestKey
    from .plugins import Plugins
    from .project import Project

DRAFT = "https://json-schema.org/draft/2020-12/schema"
MANIFEST_SCHEMA = "manifest.schema.json"
CONFIG_SCHEMA = "assetforge.schema.json"
TAPLO_CONFIG = ".taplo.toml"
TAPLO_MARKER = "# written by assetforge init"
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
               dict: "object"}
TABLES = {
    "project": "the project: names, folders, seeds, the default model",
    "generation": "how generation runs (device, dtype, threads): not part of any recipe",
    "models": "model tables: [models.NAME] source = a folder, a .safetensors file, a hub id "
              "or builtin:tiny-sd15",
    "kinds": "defaults for every asset of a kind: [kinds.texture] width = 512, …",
    "plugins": "settings read by plugin NAME: [plugins.NAME]",
    "controlnets": "ControlNet tables: [controlnets.NAME] source = …",
    "policy": "what a build may ship (licences of the weights)",
    "executor": "where generation runs: name = local, or one a plugin adds (ray)",
}


def _json_types(types: tuple[type, ...]) -> list[str]:
    names = [_JSON_TYPES.get(t, "") for t in types]
    if "number" in names and "integer" in names:
        names.remove("integer")  # "number" already accepts integers
    return [n for n in dict.fromkeys(names) if n]


def key_schema(key: ManifestKey, default: Any = None) -> dict[str, Any]:
    """The property schema of one manifest key."""
    types = _json_types(key.types)
    out: dict[str, Any] = {"description": key.help}
    if types:
        out["type"] = types[0] if len(types) == 1 else types
    out.update(key.schema or {})
    if "string" in types and "maxLength" not in out:
        out["maxLength"] = MAX_STRING
    if default is not None:
        out["default"] = default
    return out


def _kind_defs(project: Project, plugins: Plugins) -> dict[str, Any]:
    kinds = plugins.asset_kinds()
    keys = plugins.manifest_keys()
    schedulers = sorted({s for g in plugins.generators() for s in g.schedulers})
    models = sorted(project.models)
    defs: dict[str, Any] = {}
    for name, kind in kinds.items():
        defaults = dict(kind.defaults)
        own = project.kind_defaults(name)
        if isinstance(own, dict):
            defaults.update(own)
        props: dict[str, Any] = {}
        for key in keys.values():
            if key.kinds and name not in key.kinds:
                continue
            prop = key_schema(key, defaults.get(key.name))
            if key.name == "scheduler" and schedulers:
                prop["enum"] = schedulers
            elif key.name == "model" and models:
                prop["enum"] = models
            props[key.name] = prop
        if "views" in props:  # a view table holds the kind's keys, for that view only
            view_table = {"type": "object", "additionalProperties": False, "properties": {
                "suffix": {"type": "string", "description": "added to the prompt"},
                **{k: v for k, v in props.items() if k != "views"}}}
            views = json.loads(json.dumps(props["views"]))
            for branch in views.get("anyOf", []):
                if branch.get("type") == "object":
                    branch["additionalProperties"] = {"anyOf": [
                        {"type": "string", "description": "the prompt suffix of this view"},
                        view_table]}
            props["views"] = views
        defs[name] = {"type": "object", "description": f"a {name}: [{name}.ID]",
                      "properties": props, "additionalProperties": False}
    return defs


def _asset_names() -> dict[str, Any]:
    return {"pattern": f"^{ID_RE.pattern}$", "maxLength": MAX_NAME}


def manifest_schema(project: Project, plugins: Plugins) -> dict[str, Any]:
    """The schema of a manifest file: ``[KIND.ID]`` tables of the registered keys."""
    defs = _kind_defs(project, plugins)
    return {
        "$schema": DRAFT,
        "title": f"AssetForge manifest ({project.name})",
        "description": "Asset tables [KIND.ID]; generated by 'assetforge schema' from the "
                       "project's plugins.",
        "type": "object",
        "properties": {name: {"type": "object", "description": f"{name} assets: "
                              f"[{name}.ID] tables (ids: letters, digits, '_' and '-')",
                              "propertyNames": _asset_names(),
                              "additionalProperties": {"$ref": f"#/$defs/{name}"}}
                       for name in defs},
        "additionalProperties": False,
        "$defs": defs,
    }


def _table(spec: dict[str, tuple[tuple[type, ...], Any, str]],
           extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for name, (types, default, help_) in spec.items():
        prop: dict[str, Any] = {"description": help_}
        json_types = _json_types(types)
        prop["type"] = json_types[0] if len(json_types) == 1 else json_types
        if default not in (None, "", {}):
            prop["default"] = default
        if "string" in json_types:
            prop["maxLength"] = MAX_STRING
        prop.update((extra or {}).get(name, {}))
        props[name] = prop
    return {"type": "object", "properties": props, "additionalProperties": False}


def config_schema(project: Project, plugins: Plugins) -> dict[str, Any]:
    """The schema of ``assetforge.toml``; ``[kinds.X]`` tables hold the kind's keys."""
    from .project import GENERATION_KEYS, POLICY_KEYS, PROJECT_KEYS

    defs = _kind_defs(project, plugins)
    for d in defs.values():
        d["description"] = d["description"].replace("[", "defaults of every [", 1)
    tables: dict[str, Any] = {
        "project": _table(PROJECT_KEYS, {"manifests": {"items": {"type": "string"}}}),
        "generation": _table(GENERATION_KEYS, {"threads": {"minimum": 0}}),
        "policy": _table(POLICY_KEYS, {"allowed_licenses": {
            "items": {"type": "string", "minLength": 1}}}),
        "models": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["source"], "properties": {
                "source": {"type": "string", "minLength": 1, "description":
                           "a diffusers folder, a .safetensors checkpoint, a hub id, or "
                           "builtin:tiny-sd15 / builtin:tiny-sdxl / builtin:tiny-sd3"},
                "license": {"description": "the weights' licence (SPDX id), when they do not "
                                           "say it themselves"},
                "config": {"description": "a diffusers folder of the same family, for a "
                                          "single-file checkpoint offline"}}}},
        "kinds": {"type": "object", "properties": {k: {"$ref": f"#/$defs/{k}"} for k in defs},
                  "additionalProperties": False},
        "plugins": {"type": "object", "additionalProperties": {"type": "object"}},
        "controlnets": {"type": "object"},
        "executor": {"type": "object", "properties": {"name": {
            "type": "string", "description": "local, or an executor a plugin adds (ray)"}}},
    }
    for name, table in tables.items():
        table["description"] = TABLES[name]
    return {"$schema": DRAFT, "title": f"AssetForge project ({project.name})",
            "description": "assetforge.toml; generated by 'assetforge schema --config'.",
            "type": "object", "properties": tables, "additionalProperties": False,
            "$defs": defs}


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, ensure_ascii=False) + "\n"


def schema_dir(project: Project) -> Path:
    return project.state_dir / "schemas"


def _write_if_changed(path: Path, text: str) -> bool:
    try:
        if path.read_text("utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def write_schemas(project: Project, plugins: Plugins) -> list[Path]:
    """Write both schemas into the state folder; return the files that changed."""
    folder = schema_dir(project)
    changed = []
    for name, make in ((MANIFEST_SCHEMA, manifest_schema), (CONFIG_SCHEMA, config_schema)):
        if _write_if_changed(folder / name, dumps(make(project, plugins))):
            changed.append(folder / name)
    return changed


def taplo_config(project: Project) -> str:
    """``.taplo.toml``: manifests and assetforge.toml → the generated schemas."""
    rel = schema_dir(project).resolve().relative_to(project.root.resolve()).as_posix()
    globs = ", ".join(json.dumps(g) for g in project.manifest_globs)
    return (f"{TAPLO_MARKER}: editors (taplo, Even Better TOML) complete and check the\n"
            f"# manifests with the schemas 'assetforge schema' and every build regenerate.\n"
            f'include = [{globs}, "assetforge.toml"]\n\n'
            f"[[rule]]\ninclude = [{globs}]\n"
            f'[rule.schema]\npath = "./{rel}/{MANIFEST_SCHEMA}"\n\n'
            f'[[rule]]\ninclude = ["assetforge.toml"]\n'
            f'[rule.schema]\npath = "./{rel}/{CONFIG_SCHEMA}"\n')


def fingerprint(project: Project, plugins: Plugins) -> str:
    """What the schemas are made from, cheaply: the loaded plugins and the stat of every
    source file of theirs (a package's folder, a project plugin's file) and of
    assetforge.toml (kind defaults, model tables). Equal: the schemas are unchanged."""
    from . import __version__

    parts: list[Any] = [__version__]
    folders: set[str] = set()
    for name, module in sorted(plugins.pm.list_name_plugin(), key=lambda kv: kv[0]):
        file = getattr(module, "__file__", None)
        parts.append(name)
        if file:
            folders.add(os.path.dirname(file))
    for path in [str(project.config_path), *sorted(
            e.path for d in sorted(folders) for e in _scan(d) if e.name.endswith(".py"))]:
        try:
            st = os.stat(path)
            parts.append((path, st.st_size, st.st_mtime_ns))
        except OSError:
            parts.append((path, None))
    return json.dumps(parts)


def _scan(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:
        return []


def refresh(project: Project, plugins: Plugins) -> list[Path]:
    """After a build: rewrite the schemas when the plugins (or kind defaults, models) changed
    them, for projects set up for editors (a ``.taplo.toml`` written by ``init``). A build that
    changed none of their sources pays a few dozen ``stat`` calls, not a schema."""
    try:
        head = (project.root / TAPLO_CONFIG).read_text("utf-8")[:len(TAPLO_MARKER)]
    except (OSError, UnicodeDecodeError):
        return []
    if head != TAPLO_MARKER:
        return []
    folder = schema_dir(project)
    stamp = folder / "fingerprint.json"
    try:
        now = fingerprint(project, plugins)
        if (stamp.is_file() and stamp.read_text("utf-8") == now
                and all((folder / n).is_file() for n in (MANIFEST_SCHEMA, CONFIG_SCHEMA))):
            return []
        changed = write_schemas(project, plugins)
        _write_if_changed(stamp, now)
        return changed
    except OSError:
        return []  # editor support never fails a build
