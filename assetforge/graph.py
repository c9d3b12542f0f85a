"""The asset graph: image inputs collected from manifest keys, resolved, checked, ordered.

An image input is written as ``"@ID"`` (another asset's output), ``"@ID:VIEW"`` (one view of
a character) or a path relative to the project root. Inputs come from every manifest key that
declares an ``inputs`` callable (top level, and inside view tables with the name prefix
``views.<V>.``), and from the step of a many-to-one asset kind. Torch-free; no file is hashed
here (planning hashes, and only what it needs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .animations import input_applies, pose_inputs
from .config_paths import input_guard
from .errors import Problem, UserError
from .interfaces import AssetKind, AssetSpec, Location, ManifestKey
from .manifest import output_path, view_names
from .project import Project
from .suggest import did_you_mean


@dataclass(frozen=True)
class Edge:
    """One resolved input of an asset (hash not known yet)."""

    name: str  # "image", "init_image", "views.front.control.0.image", "frames.hero/front"
    ref: str  # as written
    asset: str | None  # upstream asset id, or None for a repository file
    view: str | None
    path: Path | None  # the repository file (absolute, resolved); None for an asset input

    @property
    def for_view(self) -> str | None:
        """The view this input belongs to (``views.<V>.…``), None when it is for every job."""
        if self.name.startswith("views."):
            return self.name.split(".", 2)[1]
        return None

    def applies(self, view: str | None) -> bool:
        """Whether the job of ``view`` takes this input (a view's own, a frame's pose, or
        an input of every job)."""
        if self.name.startswith("animations."):
            return bool(input_applies(self.name, view))
        if view is not None and "/" in view and self.name.startswith("control."):
            return False  # a frame's ControlNet reads its pose, not the asset's control
        for_view = self.for_view
        return for_view is None or for_view == view


@dataclass
class AssetGraph:
    """Every asset of the project, its inputs and a topological order (implements ``Graph``)."""

    specs: dict[str, AssetSpec]
    folders: dict[str, str]  # kind → its output folder
    edges: dict[str, list[Edge]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def ids(self) -> list[str]:
        return list(self.specs)

    def kind(self, asset_id: str) -> str:
        return self.specs[asset_id].kind

    def views(self, asset_id: str) -> list[str]:
        return [v for v in view_names(self.specs[asset_id]) if v is not None]

    def animations(self, asset_id: str) -> dict[str, Any]:
        return self.specs[asset_id].animations or {}

    def output(self, asset_id: str, view: str | None = None) -> str:
        spec = self.specs[asset_id]
        return output_path(spec, view, self.folders[spec.kind])

    def field(self, asset_id: str, key: str) -> Any:
        return self.specs[asset_id].fields.get(key)

    def needs(self, only: list[str]) -> list[str]:
        """``only`` and every asset they take inputs from, transitively."""
        seen: dict[str, None] = {}
        stack = list(only)
        while stack:
            a = stack.pop()
            if a in seen:
                continue
            seen[a] = None
            stack += [e.asset for e in self.edges.get(a, ()) if e.asset is not None]
        return list(seen)

    def input_files(self, output_dir: Path) -> set[Path]:
        """Files whose change can make a dependent stale (repo files, upstream outputs)."""
        out: set[Path] = set()
        for edges in self.edges.values():
            for e in edges:
                if e.path is not None:
                    out.add(e.path)
                elif e.asset is not None:
                    out.add((output_dir / self.output(e.asset, e.view)).resolve())
        return out


def key_inputs(spec: AssetSpec, keys: dict[str, ManifestKey],
               input_keys: dict[str, ManifestKey]) -> list[tuple[str, str, tuple]]:
    """(name, ref, manifest key path for locating it) of every image input in ``spec``'s keys.

    ``input_keys``: the keys that have an ``inputs`` callable (few; looked up per asset)."""
    out: list[tuple[str, str, tuple]] = []
    fields = spec.fields
    for name, key in input_keys.items():
        value = fields.get(name)
        if value is not None:
            out += [(n, r, (name,)) for n, r in key.inputs(value)]  # type: ignore[misc]
    if spec.animations:
        out += pose_inputs(spec)
    views = fields.get("views")
    if isinstance(views, dict):
        for view, table in views.items():
            if not isinstance(table, dict):
                continue
            for name, value in table.items():
                key = keys.get(name)
                if key is not None and key.inputs is not None:
                    out += [(f"views.{view}.{n}", r, ("views", view, name))
                            for n, r in key.inputs(value)]
    return out


def build_graph(project: Project, specs: list[AssetSpec], kinds: dict[str, AssetKind],
                keys: dict[str, ManifestKey],
                previous: dict[str, dict[str, Any] | None] | None = None) -> AssetGraph:
    """Resolve and check every input; order the assets. Raises ``UserError`` (all problems)."""
    graph = AssetGraph({s.id: s for s in specs}, {k: kind.output_dir for k, kind in kinds.items()})
    root = project.root.resolve()
    problems: list[Problem] = []
    raw: dict[str, list[tuple[str, str, tuple]]] = {}
    input_keys = {n: k for n, k in keys.items() if k.inputs is not None}
    steps = {k: kind.step for k, kind in kinds.items() if kind.step is not None}
    for spec in specs:
        found = key_inputs(spec, keys, input_keys)
        step = steps.get(spec.kind) if steps else None
        if step is not None:
            prev = (previous or {}).get(spec.id)
            found += [(n, r, (n.split(".")[0],)) for n, r in step.inputs(spec, graph, prev)]
        if found:
            raw[spec.id] = found
    guard = input_guard(project) if raw else None
    for asset_id, found in raw.items():
        spec = graph.specs[asset_id]
        edges = []
        for name, ref, where in found:
            edge, msg = _resolve(graph, root, name, ref)
            if edge is not None and edge.path is not None and msg is None:
                msg = guard(edge.path)  # type: ignore[misc]
            if msg:
                problems.append(Problem(_where(spec, where), f"{spec.kind}.{spec.id}.{name}", msg))
            elif edge is not None:
                edges.append(edge)
        graph.edges[asset_id] = edges
    if problems:
        raise UserError(problems)
    # Without inputs the manifest order is already topological (most projects: no walk).
    graph.order = _toposort(graph, raw) if any(graph.edges.values()) else list(graph.specs)
    return graph


def _where(spec: AssetSpec, key: tuple) -> Location:
    return Location(spec.source.path, spec.source.line_of(spec.kind, spec.id, *key))


def _resolve(graph: AssetGraph, root: Path, name: str,
             ref: str) -> tuple[Edge | None, str | None]:
    if not isinstance(ref, str) or not ref:
        return None, 'an image input is "@ID", "@ID:VIEW" or a path relative to the project'
    if ref.startswith("@"):
        asset, _, view = ref[1:].partition(":")
        if asset not in graph.specs:
            return None, f"unknown asset {asset!r}" + did_you_mean(asset, graph.specs)
        views = graph.views(asset)
        if view:
            if view not in views:
                known = f"its views: {', '.join(views)}" if views else "it has no views"
                return None, (f"unknown view {view!r} of asset {asset!r}"
                              + did_you_mean(view, views) + f" ({known})")
        elif views and not _has_main(graph.specs[asset]):
            return None, (f"asset {asset!r} has views ({', '.join(views)}): name one, "
                          f"e.g. \"@{asset}:{views[0]}\"")
        return Edge(name, ref, asset, view or None, None), None
    text = ref.replace("\\", "/")
    if os.path.isabs(text) or text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        return None, f"{ref!r}: an input file is a path relative to the project root"
    path = (root / text).resolve()  # symlinks followed, then checked
    if os.path.commonpath([path, root]) != str(root):
        return None, f"{ref!r} resolves outside the project ({path})"
    if not path.is_file():
        return None, f"missing file {ref!r} (looked for {path})"
    return Edge(name, ref, None, None, path), None


def _has_main(spec: AssetSpec) -> bool:
    """An asset without views has a main image, also when it has animation frames."""
    return not spec.fields.get("views")


def _toposort(graph: AssetGraph, raw: dict[str, list]) -> list[str]:
    """Assets in dependency order (manifest order otherwise); a cycle is a manifest error."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    edges = graph.edges
    for start in graph.specs:
        if start in state:
            continue
        if start not in edges:  # no inputs: nothing to walk
            state[start] = 2
            order.append(start)
            continue
        # Iterative DFS: (asset, iterator over its upstream ids)
        path: list[str] = [start]
        stack = [(start, iter([e.asset for e in graph.edges.get(start, ()) if e.asset]))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = 2
                order.append(node)
            elif state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                spec = graph.specs[cycle[0]]
                edge = next(e for e in graph.edges[cycle[0]] if e.asset == cycle[1])
                where = next((w for n, _r, w in raw[cycle[0]] if n == edge.name), (edge.name,))
                raise UserError([Problem(_where(spec, where),
                                         f"{spec.kind}.{spec.id}.{edge.name}",
                                         "cycle of image inputs: "
                                         + " → ".join("@" + a for a in cycle))])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter([e.asset for e in graph.edges.get(nxt, ())
                                         if e.asset])))
    return order
