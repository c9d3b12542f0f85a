"""Which tiles a terrain set has, and the one internal bit order with its three mappings.

Internal order: a tile is (centre, mask). ``mask`` has one bit per neighbour position, going
clockwise from the top: N=1, NE=2, E=4, SE=8, S=16, SW=32, W=64, NW=128; a set bit means the
upper terrain there. ``centre`` is the terrain in the middle of the tile (1 = upper).

* corner layout (Wang 2-corner, 16 tiles): only the corner bits (NE, SE, SW, NW) are used; a
  corner is a vertex of the map grid and every tile touching it agrees on its terrain.
* blob layout (3×3 minimal, 47 + 1 tiles): an upper cell's bits say which of its eight
  neighbours are upper too; a corner bit is set only where both sides beside it are (a
  corner of the cell is upper only when all four cells around it are); plus one plain lower
  tile (centre 0, no bits) for every lower cell.

Each format has its own explicit table below (``TILED_INDEX``, ``GODOT4_BITS``,
``GODOT3_BITS``); tests check each against the format's documentation.
"""

from __future__ import annotations

from dataclasses import dataclass

N, NE, E, SE, S, SW, W, NW = (1 << i for i in range(8))
POSITIONS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
BIT = dict(zip(POSITIONS, (N, NE, E, SE, S, SW, W, NW), strict=True))
CORNERS = NE | SE | SW | NW
SIDES = N | E | S | W
# A corner bit and the two sides next to it.
CORNER_SIDES = {NE: N | E, SE: S | E, SW: S | W, NW: N | W}
# (dx, dy) of each neighbour, y down as in images and tile maps.
OFFSETS = {N: (0, -1), NE: (1, -1), E: (1, 0), SE: (1, 1), S: (0, 1), SW: (-1, 1),
           W: (-1, 0), NW: (-1, -1)}

# Changes whenever the pixels of the same inputs would change: it is in the recipe.
ALGORITHM = "terrain-field-3x3-calm-cut-v1"
LAYOUTS = ("corner", "blob")
DEFAULT_COLUMNS = {"corner": 4, "blob": 8}

# Tiled wangid (Tiled >= 1.5): top, top-right, right, bottom-right, bottom, bottom-left, left,
# top-left; value 0 = unset, 1 = first colour (lower), 2 = second (upper).
TILED_INDEX = {N: 0, NE: 1, E: 2, SE: 3, S: 4, SW: 5, W: 6, NW: 7}
TILED_TYPE = {"corner": "corner", "blob": "mixed"}
# Godot 4 TileData peering bits of a square tile.
GODOT4_BITS = {N: "top_side", NE: "top_right_corner", E: "right_side",
               SE: "bottom_right_corner", S: "bottom_side", SW: "bottom_left_corner",
               W: "left_side", NW: "top_left_corner"}
GODOT4_MODE = {"corner": 1, "blob": 0}  # 1 match corners, 0 match corners and sides
# Godot 3 autotile bitmask: TL 1, T 2, TR 4, L 8, C 16, R 32, BL 64, B 128, BR 256.
GODOT3_BITS = {NW: 1, N: 2, NE: 4, W: 8, E: 32, SW: 64, S: 128, SE: 256}
GODOT3_CENTRE = 16
GODOT3_MODE = {"corner": 0, "blob": 1}  # 0: 2×2, 1: 3×3 minimal


@dataclass(frozen=True)
class TileDef:
    centre: int  # 0 lower, 1 upper
    mask: int  # internal bits (see the module docstring)

    def has(self, bit: int) -> int:
        return 1 if self.mask & bit else 0


def is_blob_mask(mask: int) -> bool:
    """A corner bit only where both sides beside it are set."""
    return all(not mask & c or mask & s == s for c, s in CORNER_SIDES.items())


def corner_tiles() -> list[TileDef]:
    """The 16 corner tiles, in the order of the marching-squares index of their corners."""
    tiles = []
    for i in range(16):
        mask = (NW if i & 1 else 0) | (NE if i & 2 else 0) | (SW if i & 4 else 0) | (
            SE if i & 8 else 0)
        tiles.append(TileDef(1 if bin(mask).count("1") >= 2 else 0, mask))
    return tiles


def blob_tiles() -> list[TileDef]:
    """The plain lower tile, then the 47 blob masks in ascending order."""
    return [TileDef(0, 0)] + [TileDef(1, m) for m in range(256) if is_blob_mask(m)]


def tiles_of(layout: str) -> list[TileDef]:
    return corner_tiles() if layout == "corner" else blob_tiles()


def used_bits(layout: str) -> list[int]:
    """The bits a layout's formats describe, in internal order."""
    return [b for b in (N, NE, E, SE, S, SW, W, NW) if layout == "blob" or b & CORNERS]


# -- per-format mappings -----------------------------------------------------------------------

def tiled_wangid(tile: TileDef, layout: str) -> list[int]:
    """Eight values in Tiled's order; a corner set leaves the sides 0 (unset)."""
    out = [0] * 8
    for bit in used_bits(layout):
        out[TILED_INDEX[bit]] = 1 + tile.has(bit)
    return out


def godot4_peering(tile: TileDef, layout: str) -> dict[str, int]:
    """Peering bit name -> terrain index (0 lower, 1 upper) for the layout's mode."""
    return {GODOT4_BITS[bit]: tile.has(bit) for bit in used_bits(layout)}


def godot3_bitmask(tile: TileDef, layout: str) -> int:
    """The autotile bitmask: 2×2 uses the corner bits; 3×3 minimal adds the centre."""
    value = sum(GODOT3_BITS[b] for b in used_bits(layout) if tile.mask & b)
    if layout == "blob" and tile.centre:
        value |= GODOT3_CENTRE
    return value


# -- what a map asks for ------------------------------------------------------------------------

def cell_tile(cells: list[list[int]], x: int, y: int, layout: str) -> TileDef:
    """The tile an upper/lower cell map needs at (x, y) (outside the map counts as lower).

    corner: vertex terrain is upper only where all four cells around it are (Godot 3's 2×2
    rule); the tile of a lower cell is the plain lower tile (all corners lower). blob: an
    upper cell's neighbour bits, with corners only where both sides are set."""
    h, w = len(cells), len(cells[0])

    def up(cx: int, cy: int) -> bool:
        return 0 <= cx < w and 0 <= cy < h and cells[cy][cx] == 1

    if not up(x, y):
        return TileDef(0, 0)
    mask = 0
    for bit, (dx, dy) in OFFSETS.items():
        if bit & CORNERS:
            sides = CORNER_SIDES[bit]
            ok = up(x + dx, y + dy) and all(up(x + OFFSETS[s][0], y + OFFSETS[s][1])
                                            for s in (N, E, S, W) if s & sides)
        else:
            ok = up(x + dx, y + dy)
        if ok and (layout == "blob" or bit & CORNERS):
            mask |= bit
    if layout == "corner":
        return next(t for t in corner_tiles() if t.mask == mask)
    return TileDef(1, mask)


def allowed_pairs(tiles: list[TileDef], layout: str) -> list[tuple[int, int, str]]:
    """(a, b, "h"|"v") for every pair the set's rules let touch: b right of a ("h") or b below
    a ("v"), where the touching corners (and, for blob, the side and centres) agree."""
    out = []
    for i, a in enumerate(tiles):
        for j, b in enumerate(tiles):
            if _fits(a, b, layout, horizontal=True):
                out.append((i, j, "h"))
            if _fits(a, b, layout, horizontal=False):
                out.append((i, j, "v"))
    return out


def _fits(a: TileDef, b: TileDef, layout: str, *, horizontal: bool) -> bool:
    if horizontal:
        pairs = [(NE, NW), (SE, SW)] + ([(E, W)] if layout == "blob" else [])
        side_a, side_b = E, W
    else:
        pairs = [(SW, NW), (SE, NE)] + ([(S, N)] if layout == "blob" else [])
        side_a, side_b = S, N
    if any(a.has(p) != b.has(q) for p, q in pairs):
        return False
    if layout == "blob":
        # an upper cell's side bit says whether the neighbour is upper
        if a.centre and a.has(side_a) != b.centre:
            return False
        if b.centre and b.has(side_b) != a.centre:
            return False
    return True
