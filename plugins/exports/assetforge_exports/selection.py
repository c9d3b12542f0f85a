"""Which images an atlas or tileset takes: ids and shell-style patterns over the asset graph.

``frames = ["hero", "wall_*", "hero:front"]`` and ``kinds = ["tile"]`` select assets; a
character contributes every view (``hero/front``, …) unless one view is named. Input names
carry what the output's bytes depend on besides the pixels, so the recipe does too:

* atlas: ``frames.<id>`` or ``frames.<id>.<n>.<view>`` (n: the view's position in the
  character's ``views``, which orders its animation); an animation frame (view ``NAME/K``)
  adds its animation's timing: ``frames.<id>.<n>.<NAME/K>.fps<F>.<loop>`` (F with ``_`` for
  the decimal point), so editing ``fps`` or ``loop`` repacks the atlas;
* tileset: ``tiles.<slot>.<id>`` or ``tiles.<slot>.<id>.<view>`` (slot: the tile id in Tiled).

Ids and view names never contain dots, so the names parse back unambiguously.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from assetforge.api import AssetSpec, Graph, Problem, UserError, did_you_mean

STEP_KINDS = ("atlas", "tileset")
_PATTERN_CHARS = "*?["


@dataclass(frozen=True, order=True)
class Pick:
    """One selected image: an asset, or one view of a character."""

    asset: str
    view: str | None = None
    view_index: int = 0
    fps: float | None = None  # an animation frame's timing
    loop: str | None = None

    @property
    def animation(self) -> str | None:
        """``hero/walk`` for a frame ``walk/K`` of ``hero``; None for a view or an asset."""
        if self.view is None or "/" not in self.view:
            return None
        return f"{self.asset}/{self.view.partition('/')[0]}"

    @property
    def frame(self) -> str:
        """The frame or tile name in the exported files: ``hero/front`` or ``wall_brick``."""
        return f"{self.asset}/{self.view}" if self.view else self.asset

    @property
    def ref(self) -> str:
        return f"@{self.asset}:{self.view}" if self.view else f"@{self.asset}"


def _problem(spec: AssetSpec, key: str, message: str) -> Problem:
    return Problem(spec.where(key), f"{spec.kind}.{spec.id}.{key}", message)


def _pick(graph: Graph, asset: str, view: str, index: int) -> Pick:
    if "/" not in view:
        return Pick(asset, view, index)
    anims = graph.animations(asset) if hasattr(graph, "animations") else {}
    anim = anims.get(view.partition("/")[0])
    if anim is None:
        return Pick(asset, view, index)
    return Pick(asset, view, index, float(anim.fps), anim.loop)


def _expand(graph: Graph, asset: str, view: str | None = None) -> list[Pick]:
    views = graph.views(asset)
    if view is not None:
        return [_pick(graph, asset, view, views.index(view))]
    return [_pick(graph, asset, v, i) for i, v in enumerate(views)] if views else [Pick(asset)]


def select(spec: AssetSpec, graph: Graph, key: str) -> list[Pick]:
    """The picks of ``spec``'s ``key`` (``frames`` or ``tiles``) and ``kinds``, sorted by
    frame name, each once. Mistakes raise ``UserError`` located at the key."""
    ids = set(graph.ids())
    images = sorted(i for i in ids if i != spec.id and graph.kind(i) not in STEP_KINDS)
    problems: list[Problem] = []
    picks: set[Pick] = set()
    for entry in spec.get(key) or []:
        name = entry[1:] if entry.startswith("@") else entry
        if any(c in name for c in _PATTERN_CHARS):
            matched = [i for i in images if fnmatchcase(i, name)]
            if not matched:
                problems.append(_problem(spec, key, f"pattern {entry!r} matches no asset"))
            for asset in matched:
                picks.update(_expand(graph, asset))
            continue
        asset, _, view = name.partition(":")
        if asset not in ids:
            problems.append(_problem(spec, key, f"unknown asset {asset!r}"
                                     + did_you_mean(asset, images)))
        elif asset == spec.id or graph.kind(asset) in STEP_KINDS:
            problems.append(_problem(spec, key, f"{asset!r} is not an image (it is "
                                     f"[{graph.kind(asset)}.{asset}]); list the assets it is "
                                     "made of instead"))
        elif view and view not in graph.views(asset):
            views = graph.views(asset)
            problems.append(_problem(spec, key, f"asset {asset!r} has no view {view!r}"
                                     + (f" (views: {', '.join(views)})" if views
                                        else " (it has no views)")))
        else:
            picks.update(_expand(graph, asset, view or None))
    wanted_kinds = spec.get("kinds") or []
    for kind in wanted_kinds:
        of_kind = [i for i in images if graph.kind(i) == kind]
        if not of_kind:
            present = sorted({graph.kind(i) for i in images})
            problems.append(_problem(spec, "kinds", f"no asset of kind {kind!r} "
                                     f"(kinds with assets: {', '.join(present) or 'none'})"))
        for asset in of_kind:
            picks.update(_expand(graph, asset))
    if not problems and not picks:
        problems.append(_problem(spec, key if spec.get(key) is not None else "kinds",
                                 f"selects no image: list assets in {key} = [...] or "
                                 "kinds = [...]"))
    if problems:
        raise UserError(problems)
    return sorted(picks, key=lambda p: p.frame)


def atlas_input_name(pick: Pick) -> str:
    if pick.view is None:
        return f"frames.{pick.asset}"
    if pick.fps is not None:
        fps = repr(pick.fps).replace(".", "_")
        return f"frames.{pick.asset}.{pick.view_index}.{pick.view}.fps{fps}.{pick.loop}"
    return f"frames.{pick.asset}.{pick.view_index}.{pick.view}"


def parse_atlas_input(name: str) -> Pick:
    parts = name.split(".")
    if parts[0] != "frames" or len(parts) not in (2, 4, 6):
        raise ValueError(f"not an atlas input name: {name!r}")
    if len(parts) == 2:
        return Pick(parts[1])
    if len(parts) == 6:
        return Pick(parts[1], parts[3], int(parts[2]),
                    float(parts[4].removeprefix("fps").replace("_", ".")), parts[5])
    return Pick(parts[1], parts[3], int(parts[2]))


def tile_input_name(slot: int, pick: Pick) -> str:
    return f"tiles.{slot}.{pick.asset}" + (f".{pick.view}" if pick.view else "")


def parse_tile_input(name: str) -> tuple[int, Pick]:
    parts = name.split(".")
    if parts[0] != "tiles" or len(parts) not in (3, 4):
        raise ValueError(f"not a tileset input name: {name!r}")
    return int(parts[1]), Pick(parts[2], parts[3] if len(parts) == 4 else None)


def previous_order(previous: dict[str, Any] | None) -> list[str]:
    """The tile names of the last build by slot (a state this step wrote; anything else is
    ignored, as if there were no last build)."""
    tiles = (previous or {}).get("tiles")
    if not isinstance(tiles, list) or not all(isinstance(t, str) for t in tiles):
        return []
    return list(tiles)


def tile_slots(picks: list[Pick], previous: dict[str, Any] | None) -> list[tuple[int, Pick]]:
    """A slot (Tiled tile id) for every pick: the one it had last build, else the next free
    slot at the end, in name order. A tile that is gone leaves its slot empty (maps that
    use the other ids keep pointing at the same tiles) and gets it back if it returns."""
    order = previous_order(previous)
    by_name = {p.frame: p for p in picks}
    slot_of = {name: i for i, name in enumerate(order) if name in by_name}
    next_slot = len(order)
    out = []
    for pick in sorted(picks, key=lambda p: p.frame):
        if pick.frame not in slot_of:
            slot_of[pick.frame] = next_slot
            next_slot += 1
        out.append((slot_of[pick.frame], pick))
    return sorted(out)
