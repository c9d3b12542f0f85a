"""``assetforge sheet``: a contact sheet of outputs, each id under its thumbnail.

A tile whose image is a list of paths is an animation: the sheet is then an animated PNG
(APNG) in which that cell plays the frames (100 ms a step) while every other cell stays.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLUMNS = 8
LABEL_H = 16
PAD = 6


STEP_MS = 100  # an animated cell's frame time in the APNG


def contact_sheet(tiles: list[tuple[str, Path | list[Path]]], out: Path,
                  size: int = 128) -> tuple[int, list[str]]:
    """Write one PNG of ``tiles`` (label, image path or an animation's frame paths):
    (how many were drawn, the labels of files that are not images PIL reads, such as an
    atlas's JSON, which were skipped). With an animation among them the PNG is animated (APNG).

    The label font is PIL's built-in one, so this works on a machine without fonts.
    """
    thumbs: list[tuple[str, list[Image.Image]]] = []
    skipped: list[str] = []
    for label, path in tiles:
        try:
            cells = [_cell(p, size) for p in (path if isinstance(path, list) else [path])]
        except (OSError, ValueError, Image.DecompressionBombError):
            skipped.append(label)
            continue
        thumbs.append((label, cells))
    cols = max(1, min(COLUMNS, len(thumbs)))
    rows = max(1, -(-len(thumbs) // cols))
    cell_w, cell_h = size + 2 * PAD, size + LABEL_H + 2 * PAD
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), (40, 42, 48))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    moving: list[tuple[int, int, list[Image.Image]]] = []  # (x, y, cells) of animations
    for i, (label, cells) in enumerate(thumbs):
        x, y = (i % cols) * cell_w + PAD, (i // cols) * cell_h + PAD
        sheet.paste(cells[0], (x + (size - cells[0].width) // 2,
                               y + (size - cells[0].height) // 2))
        if len(cells) > 1:
            moving.append((x, y, cells))
        text = label if draw.textlength(label, font=font) <= cell_w - 4 else label[:18] + "…"
        draw.text((x + size // 2, y + size + 3), text, fill=(235, 235, 235), font=font,
                  anchor="mt")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not moving:
        sheet.save(out)
        return len(thumbs), skipped
    steps = []
    for t in range(max(len(cells) for _x, _y, cells in moving)):
        frame = sheet.copy()
        for x, y, cells in moving:
            c = cells[t % len(cells)]
            frame.paste(c, (x + (size - c.width) // 2, y + (size - c.height) // 2))
        steps.append(frame)
    steps[0].save(out, format="PNG", save_all=True, append_images=steps[1:],
                  duration=STEP_MS, loop=0)
    return len(thumbs), skipped


def _cell(path: Path, size: int) -> Image.Image:
    with Image.open(path) as im:
        im = im.convert("RGBA")
        small = im.resize(_fit(im.size, size), Image.Resampling.NEAREST
                          if max(im.size) <= size else Image.Resampling.LANCZOS)
    checker = _checker(small.size)
    checker.alpha_composite(small)
    return checker.convert("RGB")


def _fit(wh: tuple[int, int], size: int) -> tuple[int, int]:
    scale = size / max(wh)
    return max(1, round(wh[0] * scale)), max(1, round(wh[1] * scale))


def _checker(wh: tuple[int, int], cell: int = 8) -> Image.Image:
    im = Image.new("RGBA", wh, (255, 255, 255, 255))
    draw = ImageDraw.Draw(im)
    for y in range(0, wh[1], cell):
        for x in range(0, wh[0], cell):
            if (x // cell + y // cell) % 2:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(204, 204, 204, 255))
    return im
