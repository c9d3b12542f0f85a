"""Rectangle packing into one or more pages with rectpack: deterministic, integer-only.

The same sizes in the same order always give the same placements: rectpack's offline mode
sorts with Python's stable sort, its guillotine algorithm uses integer arithmetic only and
breaks ties by list order, and callers pass sizes in a fixed (name-sorted) order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Guillotine best-short-side-fit, longest side first: ~0.94 of the page covered on mixed
# sprite sizes in ~0.6 s for 1,000 (bench/atlas.py). Skyline with a waste map covers ~0.95 in
# twice the time; MaxRects ~0.95 in 30x. Recorded in the recipe (rectpack is pinned, so the
# name fixes the placements).
ALGORITHM = "rectpack-0.2.2/GuillotineBssfSas/offline/sort_lside/bff/groups-as-blocks"


class PackError(ValueError):
    """Something cannot be packed (a rectangle larger than a page)."""


@dataclass(frozen=True)
class Placement:
    """Where one rectangle went: its page and top-left corner; ``rotated`` means it lies
    turned by 90° (its width along the page's y axis)."""

    page: int
    x: int
    y: int
    rotated: bool


@dataclass(frozen=True)
class Packing:
    placements: list[Placement]  # in the order of the sizes given
    pages: list[tuple[int, int]]  # (width, height) of each page


def next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def page_limit(max_size: int, power_of_two: bool) -> int:
    """The largest page side: ``max_size``, or the largest power of two not above it."""
    return 1 << (max_size.bit_length() - 1) if power_of_two else max_size


def _packer(allow_rotation: bool) -> Any:
    import rectpack  # imported when packing, not when planning

    return rectpack.newPacker(mode=rectpack.PackingMode.Offline,
                              bin_algo=rectpack.PackingBin.BFF,
                              pack_algo=rectpack.GuillotineBssfSas,
                              sort_algo=rectpack.SORT_LSIDE, rotation=allow_rotation)


def _run(cells: list[tuple[int, int]], bin_w: int, bin_h: int, count: float,
         allow_rotation: bool) -> list[tuple[int, int, int, int, int, int]]:
    packer = _packer(allow_rotation)
    packer.add_bin(bin_w, bin_h, count=count)
    for rid, (w, h) in enumerate(cells):
        packer.add_rect(w, h, rid)
    packer.pack()
    return packer.rect_list()  # (bin, x, y, w, h, rid)


Rect = tuple[int, int, int, int, int, int]  # (page, x, y, w, h, index), as rectpack lists them


@dataclass(frozen=True)
class _Block:
    """A group's rectangles packed together, moved as one: ``members`` are (index, x, y)
    of each cell inside the block's ``w`` × ``h``."""

    w: int
    h: int
    members: list[tuple[int, int, int]]


def _block(members: list[int], cells: list[tuple[int, int]], side: int) -> _Block | None:
    """The group's cells packed tightly (unrotated), or None if they outgrow a page."""
    if len(members) == 1:
        w, h = cells[members[0]]
        return _Block(w, h, [(members[0], 0, 0)])
    sub = [cells[i] for i in members]
    width = max(max(w for w, _ in sub), math.isqrt(sum(w * h for w, h in sub) - 1) + 1)
    rects = _run(sub, min(width, side), side, 1, False)
    if len(rects) < len(sub):
        return None
    width = max(x + w for _, x, _, w, _, _ in rects)
    height = max(y + h for _, _, y, _, h, _ in rects)
    return _Block(width, height, [(members[rid], x, y) for _, x, y, _, _, rid in rects])


def _page_by_page(cells: list[tuple[int, int]], groups: list[int], side: int,
                  allow_rotation: bool) -> list[Rect]:
    """Fill whole pages in turn. Each group's cells are first packed into one block, so a
    group (a character's views) lands on one page; a group larger than a page is split."""
    members: dict[int, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    blocks: list[_Block] = []
    for group in sorted(members):
        block = _block(members[group], cells, side)
        blocks += [block] if block else [_Block(*cells[i], [(i, 0, 0)]) for i in members[group]]
    out: list[Rect] = []
    for page, x, y, w, h, b in _run([(k.w, k.h) for k in blocks], side, side, math.inf,
                                    allow_rotation):
        block = blocks[b]
        turned = (w, h) != (block.w, block.h)
        for i, dx, dy in block.members:
            cw, ch = cells[i]
            if turned:  # the block turned 90° clockwise: so is every cell in it
                out.append((page, x + block.h - dy - ch, y + dx, ch, cw, i))
            else:
                out.append((page, x + dx, y + dy, cw, ch, i))
    return out


def pack(sizes: list[tuple[int, int]], *, padding: int = 0, max_size: int = 4096,
         allow_rotation: bool = False, power_of_two: bool = False,
         groups: list[int] | None = None) -> Packing:
    """Place rectangles of ``sizes`` on pages of at most ``max_size`` × ``max_size``.

    ``padding`` pixels separate neighbours (none is added at the page's edges). Everything
    goes on one page sized to fit when it can; otherwise pages are filled in turn, and
    rectangles of the same ``groups`` value (a character's views) stay on one page.
    """
    if not sizes:
        raise PackError("nothing to pack")
    limit = page_limit(max_size, power_of_two)
    for w, h in sizes:
        if w > limit or h > limit:
            raise PackError(f"a {w}×{h} rectangle does not fit on a {limit}×{limit} page")
    # Each rectangle carries its padding right and below; the bin is as much larger, so the
    # last column and row may end flush with the page edge.
    cells = [(w + padding, h + padding) for w, h in sizes]
    area = sum(w * h for w, h in cells)
    widest = max(min(w, h) if allow_rotation else w for w, h in cells)
    width = min(limit, max(widest - padding, math.isqrt(area - 1) + 1))
    if power_of_two:
        width = min(limit, next_power_of_two(width))
    rects: list[Rect] = []
    if area <= (limit + padding) ** 2:
        rects = _run(cells, width + padding, limit + padding, 1, allow_rotation)
    if len(rects) < len(cells):  # more than one page
        rects = _page_by_page(cells, groups or list(range(len(cells))), limit + padding,
                              allow_rotation)
    placements: list[Placement | None] = [None] * len(sizes)
    extents: dict[int, list[int]] = {}
    for page, x, y, w, h, rid in rects:
        sw, sh = sizes[rid]
        rotated = (w, h) != cells[rid]
        pw, ph = (sh, sw) if rotated else (sw, sh)
        placements[rid] = Placement(page, x, y, rotated)
        ext = extents.setdefault(page, [1, 1])
        ext[0] = max(ext[0], x + pw)
        ext[1] = max(ext[1], y + ph)
    pages = []
    for page in range(len(extents)):
        w, h = extents[page]
        pages.append((next_power_of_two(w), next_power_of_two(h)) if power_of_two else (w, h))
    return Packing([p for p in placements if p is not None], pages)
