"""The files of a terrain set: a PNG grid, a Tiled ``.tsx`` with a wangset, a Godot 4 TileSet
(``format=3``) and a Godot 3 autotile TileSet (``format=2``).

Each format's bits come from its own table in layout.py. The ``.tres`` files name the PNG by a
path relative to themselves, which both Godot 3 and 4 resolve against the resource's folder.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from PIL import Image

from .layout import (
    GODOT3_MODE,
    GODOT4_MODE,
    TILED_TYPE,
    TileDef,
    godot3_bitmask,
    godot4_peering,
    tiled_wangid,
)

TSX_VERSION = "1.8"  # as the exports plugin's tilesets
TILED_VERSION = "1.8.2"
PNG_COMPRESS_LEVEL = 6


@dataclass(frozen=True)
class TerrainSet:
    """Everything the writers need: the layout, its tiles (grid order) and the two terrains."""

    name: str
    layout: str
    tiles: list[TileDef]
    tile_size: int
    columns: int
    terrains: tuple[str, str]  # lower, upper (asset ids)
    colors: tuple[tuple[int, int, int], tuple[int, int, int]]

    @property
    def rows(self) -> int:
        return -(-len(self.tiles) // self.columns)

    def cell(self, index: int) -> tuple[int, int]:
        """(column, row) of tile ``index`` in the grid."""
        return index % self.columns, index // self.columns

    @property
    def image_size(self) -> tuple[int, int]:
        return self.columns * self.tile_size, self.rows * self.tile_size

    def isolated(self) -> int | None:
        """A blob's single upper cell: in Tiled's mixed wangset it has the same wangid as the
        plain lower tile (Tiled cannot say 'centre'), so it gets probability 0 there."""
        if self.layout != "blob":
            return None
        return next(i for i, t in enumerate(self.tiles) if t.centre and not t.mask)


def png_bytes(img: Image.Image) -> bytes:
    """Fixed encoder settings and no metadata chunks: the same pixels give the same bytes."""
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buf.getvalue()


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


def tsx(ts: TerrainSet, image: str) -> bytes:
    """A Tiled tileset with one wangset (type always written: Tiled reads none as mixed)."""
    width, height = ts.image_size
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<tileset version="{TSX_VERSION}" tiledversion="{TILED_VERSION}" name={quoteattr(ts.name)}'
        f' tilewidth="{ts.tile_size}" tileheight="{ts.tile_size}" spacing="0" margin="0"'
        f' tilecount="{ts.columns * ts.rows}" columns="{ts.columns}">',
        f' <image source={quoteattr(image)} width="{width}" height="{height}"/>',
    ]
    iso = ts.isolated()
    if iso is not None:
        lines.append(f' <tile id="{iso}" probability="0"/>')
    lines += [' <wangsets>',
              f'  <wangset name={quoteattr(ts.name)} type="{TILED_TYPE[ts.layout]}" tile="-1">']
    for name, rgb in zip(ts.terrains, ts.colors, strict=True):
        lines.append(f'   <wangcolor name={quoteattr(name)} color="{_hex(rgb)}" tile="-1"'
                     ' probability="1"/>')
    for i, tile in enumerate(ts.tiles):
        wangid = ",".join(str(v) for v in tiled_wangid(tile, ts.layout))
        lines.append(f'   <wangtile tileid="{i}" wangid="{wangid}"/>')
    lines += ['  </wangset>', ' </wangsets>', '</tileset>']
    return ("\n".join(lines) + "\n").encode()


def _color4(rgb: tuple[int, int, int]) -> str:
    return "Color(" + ", ".join(f"{c / 255:.4g}" for c in rgb) + ", 1)"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def godot4_tres(ts: TerrainSet, image: str) -> bytes:
    """A Godot 4 TileSet: one atlas source over the PNG, terrain set 0 with the two terrains."""
    n = ts.tile_size
    lines = ['[gd_resource type="TileSet" load_steps=3 format=3]', '',
             f'[ext_resource type="Texture2D" path={_q(image)} id="1_terrain"]', '',
             '[sub_resource type="TileSetAtlasSource" id="TileSetAtlasSource_terrain"]',
             'texture = ExtResource("1_terrain")',
             f'texture_region_size = Vector2i({n}, {n})']
    for i, tile in enumerate(ts.tiles):
        x, y = ts.cell(i)
        at = f"{x}:{y}/0"
        lines += [f"{at} = 0", f"{at}/terrain_set = 0", f"{at}/terrain = {tile.centre}"]
        for bit, value in godot4_peering(tile, ts.layout).items():
            lines.append(f"{at}/terrains_peering_bit/{bit} = {value}")
    lines += ['', '[resource]', f'tile_size = Vector2i({n}, {n})',
              f'terrain_set_0/mode = {GODOT4_MODE[ts.layout]}']
    for k, (name, rgb) in enumerate(zip(ts.terrains, ts.colors, strict=True)):
        lines += [f'terrain_set_0/terrain_{k}/name = {_q(name)}',
                  f'terrain_set_0/terrain_{k}/color = {_color4(rgb)}']
    lines.append('sources/0 = SubResource("TileSetAtlasSource_terrain")')
    return ("\n".join(lines) + "\n").encode()


def godot3_tres(ts: TerrainSet, image: str) -> bytes:
    """A Godot 3 TileSet with one autotile over the whole PNG. The blob's plain lower tile has
    no bitmask (Godot 3 never asks for one: a painted cell always has its centre bit)."""
    n = ts.tile_size
    width, height = ts.image_size
    flags = []
    for i, tile in enumerate(ts.tiles):
        if ts.layout == "blob" and not tile.centre:
            continue
        x, y = ts.cell(i)
        flags.append(f"Vector2( {x}, {y} ), {godot3_bitmask(tile, ts.layout)}")
    icon = ts.cell(0)
    lines = ['[gd_resource type="TileSet" load_steps=2 format=2]', '',
             f'[ext_resource path={_q(image)} type="Texture" id=1]', '', '[resource]',
             f'0/name = {_q(ts.name)}',
             '0/texture = ExtResource( 1 )',
             '0/tex_offset = Vector2( 0, 0 )',
             '0/modulate = Color( 1, 1, 1, 1 )',
             f'0/region = Rect2( 0, 0, {width}, {height} )',
             '0/tile_mode = 1',
             f'0/autotile/bitmask_mode = {GODOT3_MODE[ts.layout]}',
             '0/autotile/bitmask_flags = [ ' + ", ".join(flags) + ' ]',
             f'0/autotile/icon_coordinate = Vector2( {icon[0]}, {icon[1]} )',
             f'0/autotile/tile_size = Vector2( {n}, {n} )',
             '0/autotile/spacing = 0',
             '0/autotile/occluder_map = [  ]',
             '0/autotile/navpoly_map = [  ]',
             '0/autotile/priority_map = [  ]',
             '0/autotile/z_index_map = [  ]',
             '0/occluder_offset = Vector2( 0, 0 )',
             '0/navigation_offset = Vector2( 0, 0 )',
             '0/shape_offset = Vector2( 0, 0 )',
             '0/shape_transform = Transform2D( 1, 0, 0, 1, 0, 0 )',
             '0/shape_one_way = false',
             '0/shape_one_way_margin = 0.0',
             '0/shapes = [  ]',
             '0/z_index = 0']
    return ("\n".join(lines) + "\n").encode()


def set_files(stem: str, ts: TerrainSet, sheet: Image.Image, sample: Image.Image
              ) -> dict[str, bytes]:
    """``{stem}.png`` (first: the main output), ``.tsx``, ``.tres``, ``.godot3.tres`` and
    ``{stem}.sample.png`` (a map painted with the set, for review)."""
    base = stem.rsplit("/", 1)[-1]
    png = f"{base}.png"
    return {f"{stem}.png": png_bytes(sheet),
            f"{stem}.tsx": tsx(ts, png),
            f"{stem}.tres": godot4_tres(ts, png),
            f"{stem}.godot3.tres": godot3_tres(ts, png),
            f"{stem}.sample.png": png_bytes(sample)}
