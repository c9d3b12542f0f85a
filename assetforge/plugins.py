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
from .errors import PluginError, UserError

if TYPE_CHECKING:
    from .interfaces import Generator, ManifestKey, ModelConfig, PostProcessor
    from .project import Project

GROUP = "assetforge"
ALWAYS = ("core",)


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    source: str  # "entry point dist-name", or the file of a project plugin
    hooks: tuple[str, ...]


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

    def __init__(self, pm: pluggy.PluginManager, versions: dict[str, tuple[str, str]]):
        self.pm = pm
        self._versions = versions
        self._generators: list[Generator] | None = None
        self._keys: dict[str, ManifestKey] | None = None
        self._calls: dict[str, list[tuple[str, Any, tuple[str, ...]]]] = {}
        self._calls_generation: int | None = None

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def version(self, name: str) -> str:
        return self._versions.get(name, ("0", ""))[0]

    def info(self) -> list[PluginInfo]:
        out = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
            version, source = self._versions.get(name, ("0", ""))
            out.append(PluginInfo(name, version, source, tuple(hooks)))
        return out

    # -- cached registrations ----------------------------------------------------------------
    def generators(self) -> list[Generator]:
        if self._generators is None:
            self._generators = [g for gens in self.hook.register_generators() for g in gens]
        return self._generators

    def generator_for(self, model: ModelConfig) -> Generator:
        for gen in self.generators():
            if gen.handles(model):
                return gen
        raise UserError(f"no generator plugin can load model {model.name!r} "
                        f"(source {model.source!r}); is assetforge-diffusers installed?")

    def manifest_keys(self) -> dict[str, ManifestKey]:
        if self._keys is None:
            self._keys = {k.name: k for keys in self.hook.register_manifest_keys() for k in keys}
        return self._keys

    def postprocessors(self) -> list[PostProcessor]:
        steps = [p for ps in self.hook.register_postprocessors() for p in ps]
        return sorted(steps, key=lambda p: p.order)

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
                       versions: dict[str, tuple[str, str]]) -> None:
    for ep in entry_points(GROUP):
        if allowed is not None and ep.name not in allowed and ep.name not in ALWAYS:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            module = ep.load()
        except Exception as e:  # noqa: BLE001 - one broken install must not break the CLI
            print(f"warning: plugin {ep.name!r} failed to load and is skipped: "
                  f"{type(e).__name__}: {e}", file=sys.stderr)
            continue
        pm.register(module, name=ep.name)
        versions[ep.name] = (ep.dist_version, f"entry point ({ep.dist_name})")


def _load_project_plugins(pm: pluggy.PluginManager, folder: Path, allowed: set[str] | None,
                          versions: dict[str, tuple[str, str]]) -> None:
    if not folder.is_dir():
        raise UserError(f"plugins_dir {folder} does not exist")
    for path in sorted(folder.glob("*.py")):
        name = path.stem
        if name.startswith("_") or (allowed is not None and name not in allowed):
            continue
        if pm.get_plugin(name) is not None:
            raise UserError(f"{path}: a plugin named {name!r} is already loaded")
        module = _import_file(f"assetforge_project_plugins.{name}", path)
        pm.register(module, name=name)
        versions[name] = (str(getattr(module, "__version__", "0")), str(path))


def _import_file(mod_name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def load_plugins(project: Project | None = None, extra: list[ModuleType] | None = None) -> Plugins:
    """Build a plugin manager for ``project`` (entry points + its plugin folder)."""
    pm = _Manager(GROUP)
    pm.add_hookspecs(hookspecs)
    env = os.environ.get("ASSETFORGE_PLUGINS")
    allowed = {n.strip() for n in env.split(",") if n.strip()} if env is not None else None
    versions: dict[str, tuple[str, str]] = {}
    _load_entry_points(pm, allowed, versions)
    if project is not None and project.plugins_dir is not None:
        _load_project_plugins(pm, project.plugins_dir, allowed, versions)
    for module in extra or []:
        name = getattr(module, "PLUGIN_NAME", module.__name__)
        pm.register(module, name=name)
        versions[name] = (str(getattr(module, "__version__", "0")), "registered in code")
    return Plugins(pm, versions)
