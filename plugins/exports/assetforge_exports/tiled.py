"""Tiled tilesets: a grid image plus a ``.tsx`` that Tiled, pytmx and engine importers read.

Tile ``i`` sits in cell ``i`` of the grid (row-major), which is how Tiled numbers tiles of an
image tileset; a cell whose slot is empty stays transparent and has no ``<tile>`` element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from PIL import Image

from .images import png_bytes

TSX_VERSION = "1.8"  # the format version Tiled 1.8 writes and reads
TILED_VERSION = "1.8.2"


@dataclass(frozen=True)
class Grid:
    tile_width: int
    tile_height: int
    columns: int
    spacing: int = 0
    margin: int = 0

    def rows(self, cells: int) -> int:
        return max(1, math.ceil(cells / self.columns))

    def image_size(self, cells: int) -> tuple[int, int]:
        """Pixels of an image of ``cells`` cells; Tiled derives ``columns`` back from it as
        (width - 2·margin + spacing) // (tile_width + spacing)."""
        rows, cols, gap = self.rows(cells), self.columns, self.spacing
        return (2 * self.margin + cols * self.tile_width + (cols - 1) * gap,
                2 * self.margin + rows * self.tile_height + (rows - 1) * gap)

    def tilecount(self, cells: int) -> int:
        return self.columns * self.rows(cells)

    def origin(self, index: int) -> tuple[int, int]:
        col, row = index % self.columns, index // self.columns
        return (self.margin + col * (self.tile_width + self.spacing),
                self.margin + row * (self.tile_height + self.spacing))


@dataclass(frozen=True)
class Tile:
    image: Image.Image  # RGBA, already tile_width × tile_height
    properties: dict[str, str] = field(default_factory=dict)  # written sorted by name


def tileset_image(grid: Grid, slots: list[Tile | None]) -> Image.Image:
    img = Image.new("RGBA", grid.image_size(len(slots)), (0, 0, 0, 0))
    for index, tile in enumerate(slots):
        if tile is not None:
            img.paste(tile.image, grid.origin(index))
    return img


def tsx(name: str, image: str, grid: Grid, slots: list[Tile | None]) -> bytes:
    """The ``.tsx`` document; ``image`` is the PNG's path relative to the .tsx."""
    width, height = grid.image_size(len(slots))
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<tileset version="{TSX_VERSION}" tiledversion="{TILED_VERSION}" name={quoteattr(name)}'
        f' tilewidth="{grid.tile_width}" tileheight="{grid.tile_height}"'
        f' spacing="{grid.spacing}" margin="{grid.margin}"'
        f' tilecount="{grid.tilecount(len(slots))}" columns="{grid.columns}">',
        f' <image source={quoteattr(image)} width="{width}" height="{height}"/>',
    ]
    for index, tile in enumerate(slots):
        if tile is None or not tile.properties:
            continue
        lines.append(f' <tile id="{index}">')
        lines.append('  <properties>')
        for key in sorted(tile.properties):
            value = quoteattr(tile.properties[key])
            lines.append(f'   <property name={quoteattr(key)} value={value}/>')
        lines.append('  </properties>')
        lines.append(' </tile>')
    lines.append('</tileset>')
    return ("\n".join(lines) + "\n").encode()


def tileset_files(stem: str, name: str, grid: Grid, slots: list[Tile | None]) -> dict[str, bytes]:
    """``{stem}.png`` and ``{stem}.tsx``; the .tsx names the PNG beside it."""
    base = stem.rsplit("/", 1)[-1]
    return {f"{stem}.png": png_bytes(tileset_image(grid, slots)),
            f"{stem}.tsx": tsx(name, f"{base}.png", grid, slots)}
