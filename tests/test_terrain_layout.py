"""The terrain layouts and the one explicit mapping per format, against each format's own
documentation (DESIGN.md "Terrain sets"), not against our other mappings."""

from __future__ import annotations

import itertools

from assetforge_terrain import layout
from assetforge_terrain.layout import NE, NW, SE, SW, E, N, S, TileDef, W  # noqa: F401


def blob_masks_from_godot3_rule() -> set[int]:
    """The 3×3-minimal masks as Godot 3 documents them, in its own bits (TL 1, T 2, TR 4,
    L 8, C 16, R 32, BL 64, B 128, BR 256): centre set, a corner only with both sides."""
    out = set()
    for bits in itertools.product((0, 1), repeat=8):
        tl, t, tr, lft, r, bl, b, br = bits
        if (tl and not (t and lft)) or (tr and not (t and r)) or (bl and not (b and lft)) or (
                br and not (b and r)):
            continue
        out.add(tl * 1 + t * 2 + tr * 4 + lft * 8 + 16 + r * 32 + bl * 64 + b * 128 + br * 256)
    return out


def test_blob_has_exactly_the_47_canonical_masks_and_a_plain_lower_tile():
    tiles = layout.blob_tiles()
    assert len(tiles) == 48
    assert tiles[0] == TileDef(0, 0)
    uppers = tiles[1:]
    assert all(t.centre == 1 for t in uppers) and len(set(uppers)) == 47
    got = {layout.godot3_bitmask(t, "blob") for t in uppers}
    assert got == blob_masks_from_godot3_rule() and len(got) == 47


def test_corner_has_the_16_corner_combinations():
    tiles = layout.corner_tiles()
    assert len(tiles) == 16 and len({t.mask for t in tiles}) == 16
    assert all(t.mask & ~layout.CORNERS == 0 for t in tiles)


def test_tiled_wangid_order_is_top_topright_right_bottomright_bottom_bottomleft_left_topleft():
    # an upper cell with N, E and NE upper: a corner tile of the blob
    tile = TileDef(1, N | NE | E)
    assert layout.tiled_wangid(tile, "blob") == [2, 2, 2, 1, 1, 1, 1, 1]
    # corner sets fill indices 1, 3, 5, 7 only
    assert layout.tiled_wangid(TileDef(1, NE | SW), "corner") == [0, 2, 0, 1, 0, 2, 0, 1]
    assert layout.tiled_wangid(TileDef(0, NW), "corner") == [0, 1, 0, 1, 0, 1, 0, 2]


def test_godot4_peering_bit_names():
    tile = TileDef(1, S | SE | E)
    assert layout.godot4_peering(tile, "blob") == {
        "top_side": 0, "top_right_corner": 0, "right_side": 1, "bottom_right_corner": 1,
        "bottom_side": 1, "bottom_left_corner": 0, "left_side": 0, "top_left_corner": 0}
    assert layout.godot4_peering(TileDef(1, NW | SE), "corner") == {
        "top_right_corner": 0, "bottom_right_corner": 1, "bottom_left_corner": 0,
        "top_left_corner": 1}
    assert layout.GODOT4_MODE == {"corner": 1, "blob": 0}


def test_godot3_bitmask_values():
    assert layout.godot3_bitmask(TileDef(1, N | W | NW), "blob") == 2 + 8 + 1 + 16
    assert layout.godot3_bitmask(TileDef(1, S | E | SE | SW | W), "blob") == (
        128 + 32 + 256 + 64 + 8 + 16)
    # 2×2: the corner bits only, no centre
    assert layout.godot3_bitmask(TileDef(1, NE | SW), "corner") == 4 + 64
    assert layout.godot3_bitmask(TileDef(1, NE | SE | SW | NW), "corner") == 1 + 4 + 64 + 256
    assert layout.GODOT3_MODE == {"corner": 0, "blob": 1}


def test_cell_tile_follows_the_neighbours():
    cells = [[0, 1, 1],
             [0, 1, 1],
             [0, 0, 1]]
    # (1, 1): N, NE, E, SE upper; corner NE counts (N and E upper); SE counts (S? no: (1,2)=0)
    assert layout.cell_tile(cells, 1, 1, "blob") == TileDef(1, N | NE | E)
    assert layout.cell_tile(cells, 0, 0, "blob") == TileDef(0, 0)
    # corner: the vertex NE of (1, 1) has all four cells upper; the others do not
    assert layout.cell_tile(cells, 1, 1, "corner").mask == NE


def test_allowed_pairs_agree_on_shared_terrains():
    for name in layout.LAYOUTS:
        tiles = layout.tiles_of(name)
        pairs = layout.allowed_pairs(tiles, name)
        assert pairs
        for i, j, d in pairs:
            a, b = tiles[i], tiles[j]
            if d == "h":
                assert a.has(NE) == b.has(NW) and a.has(SE) == b.has(SW)
            else:
                assert a.has(SW) == b.has(NW) and a.has(SE) == b.has(NE)
        # every tile can sit next to something in each direction (the set is complete)
        for d in "hv":
            assert {i for i, _j, dd in pairs if dd == d} == set(range(len(tiles)))
    # corner: 16 × 4 right neighbours (two corners fixed, two free)
    assert len(layout.allowed_pairs(layout.corner_tiles(), "corner")) == 2 * 16 * 4


def test_every_map_cell_gets_a_tile_of_the_set():
    import random

    rnd = random.Random(4)
    for name in layout.LAYOUTS:
        tiles = set(layout.tiles_of(name))
        for _ in range(20):
            cells = [[rnd.randint(0, 1) for _ in range(7)] for _ in range(5)]
            for y in range(5):
                for x in range(7):
                    assert layout.cell_tile(cells, x, y, name) in tiles
