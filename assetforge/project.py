"""A project: the folder holding ``assetforge.toml``, its settings and its model tables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Location, Problem, UserError
from .interfaces import ModelConfig
from .layout import CONFIG_NAME, DEFAULT_DATABASE, config_root
from .suggest import did_you_mean
from .tomlpos import key_lines, line_of, parse

# key -> (types, default, help)
PROJECT_KEYS: dict[str, tuple[tuple[type, ...], Any, str]] = {
    "name": ((str,), "", "project name"),
    "output_dir": ((str,), "assets", "folder for generated images"),
    "database": ((str,), DEFAULT_DATABASE, "SQLite build record"),
    "manifests": ((str, list), "manifests/**/*.toml", "glob(s) of manifest files"),
    "seed_salt": ((str,), "", "mixed into derived seeds"),
    "plugins_dir": ((str,), "", "folder of project-local plugin .py files"),
    "allow_pickle": ((bool,), False, "allow pickle weight formats (.ckpt, .pt, .bin)"),
    "default_model": ((str,), "", "model used when an asset names none"),
    "cache_dir": ((str,), "", "output cache: a folder or an fsspec URL such as "
                  "s3://bucket/prefix (default .assetforge/objects)"),
    "cache_options": ((dict,), {}, "storage options for a cache_dir URL (endpoint_url, …)"),
}
# Credentials come from the environment only: a manifest or config is committed and shared.
SECRET_OPTIONS = ("key", "secret", "token", "password", "aws_access_key_id",
                  "aws_secret_access_key", "aws_session_token", "client_secret", "credentials")
GENERATION_KEYS: dict[str, tuple[tuple[type, ...], Any, str]] = {
    "device": ((str,), "auto", "auto, cpu, cuda, cuda:N or mps"),
    "dtype": ((str,), "auto", "auto, float32, float16 or bfloat16"),
    # CPU results depend on torch's intra-op thread count (by a grey level): pin it for
    # byte-identical outputs across machines with different core counts. 0 = torch's default.
    "threads": ((int,), 0, "torch CPU threads (0: torch's default)"),
}
# [policy]: what a build may ship (licences of the weights; see licenses.py)
POLICY_KEYS: dict[str, tuple[tuple[type, ...], Any, str]] = {
    "allowed_licenses": ((list,), None, "licences the weights may have (SPDX ids)"),
    "require_license": ((bool,), False, "every weight file must have a known licence"),
}
TOP_LEVEL = ("project", "generation", "models", "kinds", "plugins", "controlnets", "policy",
             "executor", "motion")


@dataclass
class Project:
    root: Path
    config_path: Path
    config: dict[str, Any]
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)
    _file_hasher: Any = None
    cache_dir_override: Path | str | None = None  # ``--cache-dir`` (a URL is a str): wins
    _resolved: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False,
                                                   compare=False)
    # While planning an asset: every file hashed for it (the plan cache checks them later).
    _deps: dict[str, str] | None = field(default=None, repr=False, compare=False)
    # Every file hashed or noted read (``note_read``) in this process, and the folders whose
    # listing may matter (a file added beside one): what the no-op stamp watches.
    reads: set[str] = field(default_factory=set, repr=False, compare=False)
    read_folders: set[str] = field(default_factory=set, repr=False, compare=False)

    # -- settings --------------------------------------------------------------------------
    def setting(self, key: str) -> Any:
        return self.config.get("project", {}).get(key, PROJECT_KEYS[key][1])

    @property
    def name(self) -> str:
        return self.setting("name") or self.root.name

    @property
    def output_dir(self) -> Path:
        return self._output()[0]

    @property
    def output_prefix(self) -> str:
        """``output_dir`` as a string ending in a separator: planning joins one per job."""
        return self._output()[1]

    def _output(self) -> tuple[Path, str]:
        # Planning asks once per job; resolve() costs ~50 µs, so remember it per setting.
        value = self.setting("output_dir")
        hit = self._resolved.get("output_dir")
        if hit is None or hit[0] != (self.root, value):
            path = (self.root / value).resolve()
            hit = (self.root, value), (path, os.path.join(path, ""))
            self._resolved["output_dir"] = hit
        return hit[1]

    @property
    def database(self) -> Path:
        return self.root / self.setting("database")

    @property
    def state_dir(self) -> Path:
        return self.database.parent

    @property
    def manifest_globs(self) -> list[str]:
        m = self.setting("manifests")
        return [m] if isinstance(m, str) else list(m)

    @property
    def seed_salt(self) -> str:
        return self.setting("seed_salt")

    @property
    def plugins_dir(self) -> Path | None:
        d = self.setting("plugins_dir")
        return self.root / d if d else None

    @property
    def allow_pickle(self) -> bool:
        return bool(self.setting("allow_pickle"))

    def _cache_setting(self) -> Path | str:
        if self.cache_dir_override is not None:
            return self.cache_dir_override
        return os.environ.get("ASSETFORGE_CACHE_DIR") or self.setting("cache_dir")

    @property
    def cache_url(self) -> str | None:
        """The output store's URL when it is remote (``s3://…``, ``gs://…``), else None.

        A ``file://`` URL is a local folder (``cache_dir``)."""
        value = self._cache_setting()
        if isinstance(value, str) and is_url(value) and not value.startswith("file://"):
            return value
        return None

    @property
    def cache_dir(self) -> Path:
        """The output store's folder (when ``cache_url`` is set, the unused local default)."""
        value = self._cache_setting()
        if isinstance(value, Path):
            return value
        if value.startswith("file://"):
            return Path(value[len("file://"):])
        return (self.root / value) if value and not is_url(value) else self.state_dir / "objects"

    @property
    def cache_options(self) -> dict[str, Any]:
        return dict(self.setting("cache_options"))

    @property
    def generation(self) -> dict[str, Any]:
        out = {k: v[1] for k, v in GENERATION_KEYS.items()}
        out.update(self.config.get("generation", {}))
        for key in ("device", "dtype", "threads"):
            env = os.environ.get(f"ASSETFORGE_{key.upper()}")
            if env:
                out[key] = int(env) if key == "threads" and env.isdigit() else env
        return out

    @property
    def models(self) -> dict[str, ModelConfig]:
        out = {}
        for name, table in self.config.get("models", {}).items():
            opts = {k: v for k, v in table.items() if k != "source"}
            out[name] = ModelConfig(name, table["source"], opts, self.where("models", name))
        return out

    @property
    def default_model(self) -> str | None:
        if self.setting("default_model"):
            return self.setting("default_model")
        models = list(self.config.get("models", {}))
        return models[0] if len(models) == 1 else None

    def kind_defaults(self, kind: str) -> dict[str, Any]:
        return dict(self.config.get("kinds", {}).get(kind, {}))

    def plugin_config(self, plugin: str) -> dict[str, Any]:
        """The ``[plugins.NAME]`` table: settings a plugin reads from assetforge.toml."""
        return dict(self.config.get("plugins", {}).get(plugin, {}))

    def where(self, *key: str) -> Location:
        """The line of ``key`` (or of its nearest enclosing table) in assetforge.toml."""
        return Location(self.config_path, line_of(self.lines, key))

    def rel(self, path: Path) -> str:
        """``path`` relative to the project root when inside it, for messages."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    def resolve_path(self, value: str) -> Path:
        """A path from the config: absolute, ``~``-expanded, or relative to the project root."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p

    def close_file_hashes(self) -> None:
        """Drop the file-hash cache's database connection (before the file is moved)."""
        if self._file_hasher is not None:
            self._file_hasher.close()
            self._file_hasher = None

    def note_read(self, path: Path, beside: bool = True) -> None:
        """Say that planning read ``path`` (or saw it absent) without hashing it (a hub ref,
        a device file): a change to it makes the next build plan again, and with ``beside``
        a file added or removed in its folder too (its folder was listed or globbed)."""
        self.reads.add(str(path))
        if beside:
            self.read_folders.add(os.path.dirname(path))

    def hash_file(self, path: Path) -> str:
        """Tagged sha256 of a file, cached in the database by (path, size, mtime_ns, inode)."""
        if self._file_hasher is None:
            from .hashing import FileHashCache

            self._file_hasher = FileHashCache(self.database)
        digest = self._file_hasher.hash(path)
        self.note_read(path)
        if self._deps is not None:
            self._deps[str(path)] = digest
        return digest


def is_url(value: str) -> bool:
    """``s3://…``, ``gs://…``, ``file://…``: a scheme of letters, then ``://``."""
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.isalnum() and len(scheme) > 1


def find_root(start: Path) -> Path:
    """Search upward from ``start`` for assetforge.toml, like git does for .git."""
    found = config_root(str(start))
    if found is not None:
        return Path(found)
    start = start.resolve()
    raise UserError(f"no {CONFIG_NAME} found in {start} or any parent folder "
                    "(run 'assetforge init DIR' to create a project, or pass --project DIR)")


def load_project(path: Path | None = None) -> Project:
    """Load the project containing ``path`` (default: the working directory)."""
    root = find_root(path or Path.cwd())
    cfg_path = root / CONFIG_NAME
    try:
        raw = cfg_path.read_bytes()
    except OSError as e:
        raise UserError([Problem(Location(cfg_path), None, f"cannot read: {e}")]) from None
    data, text = parse(cfg_path, raw)
    project = Project(root, cfg_path, data, key_lines(text))
    problems = check_config(project)
    if problems:
        raise UserError(problems)
    return project


def _check_table(project: Project, table: dict, spec: dict, path: tuple[str, ...]) -> list[Problem]:
    problems = []
    for key, value in table.items():
        where = project.where(*path, key)
        dotted = ".".join((*path, key))
        if key not in spec:
            problems.append(Problem(where, dotted, "unknown key" + did_you_mean(key, spec)))
            continue
        types = spec[key][0]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            problems.append(Problem(where, dotted, f"expected {type_names(types)}, "
                                    f"got {type(value).__name__}"))
    return problems


def type_names(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(t, t.__name__) for t in types)



def check_config(project: Project) -> list[Problem]:
    """Validate assetforge.toml's own tables (kinds are checked with the manifests)."""
    cfg = project.config
    problems: list[Problem] = []
    for key in cfg:
        if key not in TOP_LEVEL:
            problems.append(Problem(project.where(key), key,
                                    "unknown table" + did_you_mean(key, TOP_LEVEL)))
        elif not isinstance(cfg[key], dict):
            problems.append(Problem(project.where(key), key, "expected a table"))
    if problems:
        return problems
    for name, spec in (("project", PROJECT_KEYS), ("generation", GENERATION_KEYS),
                       ("policy", POLICY_KEYS)):
        problems += _check_table(project, cfg.get(name, {}), spec, (name,))
    for name, table in cfg.get("models", {}).items():
        where = project.where("models", name)
        if not isinstance(table, dict):
            problems.append(Problem(where, f"models.{name}", "expected a table with 'source'"))
        elif not isinstance(table.get("source"), str) or not table["source"]:
            problems.append(Problem(where, f"models.{name}.source",
                                    "missing: a local folder, a .safetensors file, a hub id "
                                    "or builtin:tiny-sd15"))
    for section in ("kinds", "plugins"):
        for name, table in cfg.get(section, {}).items():
            if not isinstance(table, dict):
                problems.append(Problem(project.where(section, name), f"{section}.{name}",
                                        "expected a table"))
    if problems:  # the checks below read settings of the types just checked
        return problems
    threads = project.generation.get("threads")
    if isinstance(threads, int) and threads < 0:
        problems.append(Problem(project.where("generation", "threads"), "generation.threads",
                                "must be 0 (torch's default) or more"))
    problems += _check_paths(project)
    if not problems:
        from .config_paths import path_conflicts

        problems += path_conflicts(project)
    allowed = cfg.get("policy", {}).get("allowed_licenses")
    if isinstance(allowed, list) and not all(isinstance(x, str) and x for x in allowed):
        problems.append(Problem(project.where("policy", "allowed_licenses"),
                                "policy.allowed_licenses", "expected a list of licence names"))
    if not isinstance(cfg.get("executor", {}).get("name", ""), str):
        problems.append(Problem(project.where("executor", "name"), "executor.name",
                                "expected a string: local, or an executor a plugin registers"))
    opts = project.setting("cache_options")
    for key in opts if isinstance(opts, dict) else ():
        if key.lower() in SECRET_OPTIONS:
            where = project.where("project", "cache_options", key)
            if not where.line:  # an inline table: its keys have the table's line
                where = project.where("project", "cache_options")
            problems.append(Problem(where,
                                    f"project.cache_options.{key}",
                                    "credentials come from the environment (AWS_ACCESS_KEY_ID, "
                                    "AWS_SECRET_ACCESS_KEY, …), never from assetforge.toml"))
    dm = project.setting("default_model")
    if dm and dm not in cfg.get("models", {}):
        problems.append(Problem(project.where("project", "default_model"),
                                "project.default_model", f"no [models.{dm}] table"
                                + did_you_mean(dm, cfg.get("models", {}))))
    return problems


def _check_paths(project: Project) -> list[Problem]:
    """Folders, files and globs of [project]: inside the project, and short enough for the
    file system they are on."""
    problems = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem(project.where("project", key), f"project.{key}", message))

    for key in ("output_dir", "database", "cache_dir", "plugins_dir"):
        value = project.setting(key)
        msg = path_too_long(project.resolve_path(value)) if value else None
        if msg:
            bad(key, msg)
    if problems:
        return problems
    if not inside(project.root, project.root / project.setting("output_dir")):
        bad("output_dir", "must stay inside the project folder")
    if not project.setting("database").strip() or project.setting("database").endswith("/"):
        bad("database", "must name a file, e.g. .assetforge/assetforge.db")
    for i, pattern in enumerate(project.config.get("project", {}).get("manifests", [])
                                if isinstance(project.setting("manifests"), list) else []):
        if not isinstance(pattern, str):
            problems.append(Problem(project.where("project", "manifests"),
                                    f"project.manifests.{i}", "expected a string (a glob such "
                                    f"as 'manifests/**/*.toml'), got {type(pattern).__name__}"))
    for pattern in project.manifest_globs:
        if not isinstance(pattern, str):
            continue
        if not pattern.strip():
            bad("manifests", "an empty glob; use e.g. 'manifests/**/*.toml'")
        elif Path(pattern).is_absolute() or pattern.startswith("~"):
            bad("manifests", f"{pattern!r}: globs are relative to the project folder")
        elif ".." in Path(pattern).parts:
            bad("manifests", f"{pattern!r}: must stay inside the project folder (no '..')")
    return problems


def fs_limits(path: Path) -> tuple[int, int]:
    """(longest file name, longest path) in bytes on the file system holding ``path`` (or its
    nearest existing parent); POSIX minimums where the system cannot tell."""
    probe = path
    while not os.path.exists(probe) and probe != probe.parent:  # False for a too-long path
        probe = probe.parent
    key = str(probe)
    hit = _FS_LIMITS.get(key)
    if hit is None:
        try:
            hit = (os.pathconf(probe, "PC_NAME_MAX"), os.pathconf(probe, "PC_PATH_MAX"))
        except (OSError, ValueError, AttributeError):  # no pathconf (Windows)
            hit = (255, 4096 if os.name != "nt" else 260)
        _FS_LIMITS[key] = hit
    return hit


_FS_LIMITS: dict[str, tuple[int, int]] = {}


def path_too_long(path: Path, base: Path | None = None,
                  limits: tuple[int, int] | None = None) -> str | None:
    """Why ``path`` cannot exist on its file system (a name or the whole path too long),
    or None. ``base``: the folder whose file system decides (default: the path's own);
    ``limits``: its ``fs_limits``, when the caller has them."""
    name_max, path_max = limits or fs_limits(base or path)
    full = os.fsencode(path)
    if len(full) < min(name_max, path_max):  # the usual case: nothing can be too long
        return None
    for part in Path(path).parts:
        size = len(os.fsencode(part))
        if size > name_max:
            return (f"a file or folder name of {size} bytes; this file system allows "
                    f"{name_max}")
    if len(full) >= path_max:
        return f"a path of {len(full)} bytes; this file system allows {path_max - 1}"
    return None


def inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):  # outside, or a path no file system can hold
        return False

