"""The plugin manager: entry points in group ``assetforge``, plus a project's plugin folder.

``ASSETFORGE_PLUGINS=name,name`` restricts which entry-point and project plugins load (the
``core`` plugin always loads: it defines the asset kinds).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .entrypoints import entry_points
from .errors import Location, PluginError, Problem, UserError

if TYPE_CHECKING:
    from .interfaces import AssetKind, Generator, ManifestKey, ModelConfig, PostProcessor
    from .project import Project

GROUP = "assetforge"
ALWAYS = ("core",)


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    source: str  # "entry point dist-name", or the file of a project plugin
    hooks: tuple[str, ...]


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be imported or registered (or whose registration hook raised)."""

    name: str
    location: Location  # the plugin's file and the line that raised, when known
    error: str  # "ZeroDivisionError: division by zero"
    stage: str = "load"  # load | register | a hook name

    def problem(self) -> Problem:
        return Problem(self.location, f"plugin {self.name!r}",
                       f"failed to {self.stage}: {self.error}" if self.stage in
                       ("load", "register") else f"{self.stage} raised {self.error}")


def failure(name: str, error: BaseException, file: str | None, stage: str) -> PluginFailure:
    """Where in the plugin ``error`` was raised: its file (or the innermost frame outside
    Python's import machinery) and line."""
    import traceback

    text = f"{type(error).__name__}: {error}"
    if isinstance(error, SyntaxError) and error.filename:
        return PluginFailure(name, Location(Path(error.filename), error.lineno or 0), text, stage)
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not f.filename.startswith("<") and "pluggy" not in f.filename]
    inside = [f for f in frames if file and Path(f.filename) == Path(file)]
    frame = (inside or frames or [None])[-1]
    if frame is not None and (inside or not file):
        return PluginFailure(name, Location(Path(frame.filename), frame.lineno or 0), text, stage)
    return PluginFailure(name, Location(Path(file or name)), text, stage)


class _Manager(pluggy.PluginManager):
    """A pluggy manager that counts (un)registrations, so hook call lists can be cached."""

    generation = 0

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        self.generation += 1
        return super().register(plugin, name)

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        self.generation += 1
        return super().unregister(plugin, name)


class Plugins:
    """A loaded set of plugins and the hook calls the core makes through them."""

    def __init__(self, pm: pluggy.PluginManager, versions: dict[str, tuple[str, str]],
                 failures: list[PluginFailure] | None = None):
        self.pm = pm
        self._versions = versions
        self.failures = failures or []  # plugins that failed to load (``assetforge plugins``)
        self._generators: list[Generator] | None = None
        self._keys: dict[str, ManifestKey] | None = None
        self._kinds: dict[str, AssetKind] | None = None
        self._calls: dict[str, list[tuple[str, Any, tuple[str, ...]]]] = {}
        self._calls_generation: int | None = None

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def info(self) -> list[PluginInfo]:
        out = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
            version, source = self._versions.get(name, ("0", ""))
            out.append(PluginInfo(name, version, source, tuple(hooks)))
        return out

    # -- cached registrations ----------------------------------------------------------------
    def _registered(self, hook_name: str) -> list[Any]:
        """Everything a ``register_*`` hook returned, flattened, in registration order. A
        plugin that raises is reported as a user error naming it, its file and the line."""
        try:
            return [item for _name, items in self.call_each(hook_name) for item in items]
        except PluginError as e:
            raise self._blame(e, hook_name) from None

    def _blame(self, e: PluginError, hook_name: str) -> UserError:
        source = self._versions.get(e.plugin, ("", ""))[1]
        module = self.pm.get_plugin(e.plugin)
        file = getattr(module, "__file__", None) or (source if source.endswith(".py") else None)
        return UserError([failure(e.plugin, e.error, file, hook_name).problem()])

    def asset_kinds(self) -> dict[str, AssetKind]:
        """Asset kinds by name (``register_asset_kinds``), asked once per plugin set."""
        if self._kinds is None:
            self._kinds = {k.name: k for k in self._registered("register_asset_kinds")}
        return self._kinds

    def generators(self) -> list[Generator]:
        if self._generators is None:
            self._generators = self._registered("register_generators")
        return self._generators

    def generator_for(self, model: ModelConfig) -> Generator:
        for gen in self.generators():
            if gen.handles(model):
                return gen
        raise UserError([Problem(model.location, f"models.{model.name}.source",
                                 f"no generator plugin can load {model.source!r}; is "
                                 "assetforge-diffusers (or the plugin for it) installed?")])

    def manifest_keys(self) -> dict[str, ManifestKey]:
        if self._keys is None:
            self._keys = {k.name: k for k in self._registered("register_manifest_keys")}
        return self._keys

    def postprocessors(self) -> list[PostProcessor]:
        steps = self._registered("register_postprocessors")
        return sorted(steps, key=lambda p: p.order)

    def register_commands(self, cli: Any) -> None:
        """Let every plugin add its commands to the ``cli`` group."""
        try:
            self.call_each("register_commands", cli=cli)
        except PluginError as e:
            raise self._blame(e, "register_commands") from None

    # -- calls that attribute failures to the plugin that raised -------------------------------
    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a hook; return (plugin name, result) pairs.

        An exception is re-raised as ``PluginError`` naming the plugin, so a failing plugin
        fails only the asset it was working on and the record says which plugin it was.
        """
        results = []
        names = tuple(kwargs)
        for name, function, argnames in self._impls(hook_name):
            try:
                if argnames == names:  # the usual case: every argument, in the spec's order
                    res = function(*kwargs.values())
                else:
                    res = function(*[kwargs[a] for a in argnames])
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - attributed and re-raised
                raise PluginError(name, e) from e
            if res is not None:
                results.append((name, res))
        return results

    def _impls(self, hook_name: str) -> list[tuple[str, Any, tuple[str, ...]]]:
        """(plugin name, function, argument names) of a hook's implementations, in
        registration order. Planning calls hooks once per asset, so this is kept until a
        plugin is registered or unregistered (``_Manager.generation``)."""
        generation = getattr(self.pm, "generation", None)
        if generation is None or generation != self._calls_generation:
            self._calls.clear()
            self._calls_generation = generation
        calls = self._calls.get(hook_name)
        if calls is None:
            # pluggy keeps implementations last-registered-first; reverse for registration
            # order.
            impls = getattr(self.pm.hook, hook_name).get_hookimpls()
            calls = [(i.plugin_name, i.function, tuple(i.argnames)) for i in reversed(impls)]
            self._calls[hook_name] = calls
        return calls

    def generation_contexts(self, ctx: Any) -> list[tuple[str, AbstractContextManager[None]]]:
        return self.call_each("generation_context", ctx=ctx)


def _load_entry_points(pm: pluggy.PluginManager, allowed: set[str] | None,
                       versions: dict[str, tuple[str, str]],
                       failures: list[PluginFailure]) -> None:
    for ep in entry_points(GROUP):
        if allowed is not None and ep.name not in allowed and ep.name not in ALWAYS:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            module = ep.load()
        except Exception as e:  # noqa: BLE001 - reported; the other plugins still load
            failures.append(failure(ep.name, e, _module_file(ep.value), "load"))
            continue
        _register(pm, module, ep.name, failures, getattr(module, "__file__", None))
        versions[ep.name] = (ep.dist_version, f"entry point ({ep.dist_name})")


def _module_file(value: str) -> str | None:
    """The file of an entry point's module, found without importing it (None if unknown)."""
    try:
        spec = importlib.util.find_spec(value.partition(":")[0].strip())
    except Exception:  # noqa: BLE001 - a parent package that fails to import: no file known
        return None
    return spec.origin if spec is not None else None


def _register(pm: pluggy.PluginManager, module: Any, name: str,
              failures: list[PluginFailure], file: str | None) -> bool:
    try:
        pm.register(module, name=name)
        return True
    except Exception as e:  # noqa: BLE001 - pluggy's validation, or a plugin's own code
        failures.append(failure(name, e, file, "register"))
        return False


def _load_project_plugins(pm: pluggy.PluginManager, folder: Path, allowed: set[str] | None,
                          versions: dict[str, tuple[str, str]],
                          failures: list[PluginFailure]) -> None:
    for path in sorted(folder.glob("*.py")):
        name = path.stem
        if name.startswith("_") or (allowed is not None and name not in allowed):
            continue
        if pm.get_plugin(name) is not None:
            failures.append(PluginFailure(name, Location(path, 1), f"a plugin named {name!r} "
                                          "is already loaded", "register"))
            continue
        try:
            module = _import_file(f"assetforge_project_plugins.{name}", path)
        except Exception as e:  # noqa: BLE001 - reported; the other plugins still load
            failures.append(failure(name, e, str(path), "load"))
            continue
        if _register(pm, module, name, failures, str(path)):
            versions[name] = (str(getattr(module, "__version__", "0")), str(path))


def _import_file(mod_name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    return module


def load_plugins(project: Project | None = None, extra: list[ModuleType] | None = None, *,
                 strict: bool = True) -> Plugins:
    """Build a plugin manager for ``project`` (entry points + its plugin folder).

    A plugin that fails to import or register is a ``UserError`` naming it, its file, the line
    and the exception (``strict``), or is left out and listed in ``Plugins.failures``.
    """
    pm = _Manager(GROUP)
    pm.add_hookspecs(hookspecs)
    env = os.environ.get("ASSETFORGE_PLUGINS")
    allowed = {n.strip() for n in env.split(",") if n.strip()} if env is not None else None
    versions: dict[str, tuple[str, str]] = {}
    failures: list[PluginFailure] = []
    _load_entry_points(pm, allowed, versions, failures)
    if project is not None and project.plugins_dir is not None:
        if not project.plugins_dir.is_dir():
            raise UserError([Problem(project.where("project", "plugins_dir"),
                                     "project.plugins_dir", f"no folder {project.plugins_dir}")])
        _load_project_plugins(pm, project.plugins_dir, allowed, versions, failures)
    for module in extra or []:
        name = getattr(module, "PLUGIN_NAME", module.__name__)
        pm.register(module, name=name)
        versions[name] = (str(getattr(module, "__version__", "0")), "registered in code")
    if failures and strict:
        raise UserError([f.problem() for f in failures])
    return Plugins(pm, versions, failures)


_MODEL_PLUGINS: dict[tuple[Path, Path | None], Plugins] = {}


def model_generator(project: Project, name: str) -> tuple[Generator, ModelConfig]:
    """The generator that loads ``[models.NAME]`` of ``project``, and that table: for a step
    that paints with the project's model (the terrain step's transition). Plugins are loaded
    once per project; ``KeyError`` when there is no such table."""
    cfg = project.models[name]
    key = (project.config_path, project.plugins_dir)
    if key not in _MODEL_PLUGINS:
        _MODEL_PLUGINS[key] = load_plugins(project)
    return _MODEL_PLUGINS[key].generator_for(cfg), cfg
