"""The exports plugin's pure parts: trim/extrude, rectangle packing, tile grid and order."""

from __future__ import annotations

import random

import numpy as np
import pytest
from assetforge_exports.images import Box, crop, extrude, opaque_box, png_bytes
from assetforge_exports.packing import PackError, next_power_of_two, pack
from assetforge_exports.selection import Pick, tile_slots
from assetforge_exports.tiled import Grid
from exports_helpers import sprite
from PIL import Image


def test_opaque_box_finds_the_drawn_pixels_and_crop_keeps_them() -> None:
    img = sprite(20, 12, seed=1, border=(3, 2, 5, 1))
    box = opaque_box(img)
    assert box == Box(3, 2, 12, 9)
    restored = Image.new("RGBA", img.size, (0, 0, 0, 0))
    restored.paste(crop(img, box), (box.x, box.y))
    assert restored.tobytes() == img.tobytes()


def test_an_empty_image_keeps_a_one_pixel_frame() -> None:
    assert opaque_box(Image.new("RGBA", (9, 7), (0, 0, 0, 0))) == Box(0, 0, 1, 1)


def test_extrude_repeats_edge_pixels_outwards() -> None:
    img = sprite(5, 4, seed=2)
    grown = np.asarray(extrude(img, 2))
    src = np.asarray(img)
    assert grown.shape == (8, 9, 4)
    assert (grown[2:6, 2:7] == src).all()
    assert (grown[0, 2:7] == src[0]).all() and (grown[1, 2:7] == src[0]).all()  # top edge
    assert (grown[2:6, 8] == src[:, -1]).all()  # right edge
    assert (grown[0, 0] == src[0, 0]).all() and (grown[-1, -1] == src[-1, -1]).all()  # corners
    assert extrude(img, 0) is img


def test_png_bytes_are_the_same_for_the_same_pixels() -> None:
    img = sprite(16, 16, seed=3)
    assert png_bytes(img) == png_bytes(img.copy())
    assert b"tIME" not in png_bytes(img) and b"tEXt" not in png_bytes(img)


def _mixed_sizes(n: int, seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randint(4, 60), rng.randint(4, 60)) for _ in range(n)]


def _check_packing(sizes, packing, padding: int, limit: int) -> None:
    placed = []
    for (w, h), p in zip(sizes, packing.placements, strict=True):
        if p.rotated:
            w, h = h, w
        pw, ph = packing.pages[p.page]
        assert 0 <= p.x and p.x + w <= min(pw, limit) and 0 <= p.y and p.y + h <= min(ph, limit)
        placed.append((p.page, p.x, p.y, w, h))
    for i, (pa, xa, ya, wa, ha) in enumerate(placed):
        for pb, xb, yb, wb, hb in placed[i + 1:]:
            if pa != pb:
                continue
            # Apart by at least `padding` along one axis.
            apart = (xa + wa + padding <= xb or xb + wb + padding <= xa
                     or ya + ha + padding <= yb or yb + hb + padding <= ya)
            assert apart, ((xa, ya, wa, ha), (xb, yb, wb, hb))


def test_pack_places_every_rectangle_apart_inside_one_page() -> None:
    sizes = _mixed_sizes(120, seed=4)
    packing = pack(sizes, padding=2, max_size=4096)
    assert len(packing.pages) == 1
    _check_packing(sizes, packing, 2, 4096)
    assert not any(p.rotated for p in packing.placements)
    w, h = packing.pages[0]
    area = sum((a + 2) * (b + 2) for a, b in sizes)
    assert w * h < 1.5 * area  # sized to fit, not a max_size page


def test_pack_is_deterministic() -> None:
    sizes = _mixed_sizes(200, seed=5)
    assert pack(sizes, padding=1) == pack(list(sizes), padding=1)


def test_power_of_two_pages() -> None:
    sizes = _mixed_sizes(50, seed=6)
    packing = pack(sizes, padding=2, power_of_two=True, max_size=1000)
    for w, h in packing.pages:
        assert w == next_power_of_two(w) and h == next_power_of_two(h) and max(w, h) <= 512
    _check_packing(sizes, packing, 2, 512)


def test_overflow_goes_to_further_pages() -> None:
    sizes = _mixed_sizes(80, seed=7)
    packing = pack(sizes, padding=2, max_size=128)
    assert len(packing.pages) > 1
    assert {p.page for p in packing.placements} == set(range(len(packing.pages)))
    assert all(w <= 128 and h <= 128 for w, h in packing.pages)
    _check_packing(sizes, packing, 2, 128)


def test_grouped_rectangles_share_a_page() -> None:
    sizes = [(w // 2, h // 2) for w, h in _mixed_sizes(90, seed=8)]  # a group fits a page
    groups = [i // 3 for i in range(len(sizes))]  # threes, like a character's views
    packing = pack(sizes, padding=1, max_size=100, groups=groups)
    assert len(packing.pages) > 2
    _check_packing(sizes, packing, 1, 100)

    def pages_per_group(packing) -> list[int]:
        pages: dict[int, set[int]] = {}
        for place, group in zip(packing.placements, groups, strict=True):
            pages.setdefault(group, set()).add(place.page)
        return [len(p) for p in pages.values()]

    assert set(pages_per_group(packing)) == {1}
    # Without groups the same rectangles do split some threes (so the test can fail).
    assert max(pages_per_group(pack(sizes, padding=1, max_size=100))) > 1


def test_rotation_turns_rectangles_that_pack_better_turned() -> None:
    sizes = [(60, 8)] * 10 + [(8, 60)] * 10
    packing = pack(sizes, padding=0, max_size=4096, allow_rotation=True)
    _check_packing(sizes, packing, 0, 4096)
    assert any(p.rotated for p in packing.placements)


def test_a_rectangle_larger_than_a_page_is_refused() -> None:
    with pytest.raises(PackError, match="does not fit on a 64×64 page"):
        pack([(10, 10), (65, 3)], max_size=64)
    with pytest.raises(PackError, match="64×64"):
        pack([(100, 10)], max_size=100, power_of_two=True)


def test_grid_geometry_matches_tileds_formula() -> None:
    for grid in (Grid(16, 16, 4), Grid(32, 24, 5, spacing=2, margin=3), Grid(8, 8, 1, 1, 1)):
        for cells in (1, 4, 5, 11):
            width, height = grid.image_size(cells)
            # Tiled: columns = (imagewidth - 2*margin + spacing) / (tilewidth + spacing)
            columns = (width - 2 * grid.margin + grid.spacing) // (grid.tile_width + grid.spacing)
            rows = (height - 2 * grid.margin + grid.spacing) // (grid.tile_height + grid.spacing)
            assert columns == grid.columns
            assert columns * rows == grid.tilecount(cells) >= cells
            x, y = grid.origin(cells - 1)
            assert x + grid.tile_width <= width - grid.margin
            assert y + grid.tile_height <= height - grid.margin


def _names(slots: list[tuple[int, Pick]]) -> dict[int, str]:
    return {slot: pick.frame for slot, pick in slots}


def test_tile_slots_keep_ids_and_append_new_tiles() -> None:
    first = _names(tile_slots([Pick("wall"), Pick("floor"), Pick("hero", "front")], None))
    assert first == {0: "floor", 1: "hero/front", 2: "wall"}
    state = {"tiles": ["floor", "hero/front", "wall"]}
    # "door" sorts before all of them, yet goes to the end.
    added = _names(tile_slots([Pick("wall"), Pick("floor"), Pick("hero", "front"),
                               Pick("door")], state))
    assert added == {0: "floor", 1: "hero/front", 2: "wall", 3: "door"}
    # A removed tile leaves a hole; the others keep their ids; it gets its id back later.
    state = {"tiles": ["floor", "hero/front", "wall", "door"]}
    removed = _names(tile_slots([Pick("wall"), Pick("floor"), Pick("door")], state))
    assert removed == {0: "floor", 2: "wall", 3: "door"}
    back = _names(tile_slots([Pick("wall"), Pick("floor"), Pick("door"), Pick("hero", "front"),
                              Pick("arch")], state))
    assert back == {0: "floor", 1: "hero/front", 2: "wall", 3: "door", 4: "arch"}


def test_tile_slots_ignore_a_state_they_did_not_write() -> None:
    for junk in ({"tiles": "floor"}, {"tiles": [1, 2]}, {"other": []}, {}):
        assert _names(tile_slots([Pick("b"), Pick("a")], junk)) == {0: "a", 1: "b"}
