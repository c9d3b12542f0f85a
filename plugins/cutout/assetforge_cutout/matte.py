"""Alpha from a colour key, colour bleeding and trimming: numpy + scipy, deterministic.

Colour key, step by step (``key_cutout``):

1. **Background colour** — the per-channel median of the image's outermost ring of pixels (a
   median ignores a shape that touches the border in a few places).
2. **Background region** — pixels whose colour is within ``tolerance`` of it (the largest
   difference over R, G and B, in grey levels 0-255) *and* connected to the border through such
   pixels (4-neighbours): a flood fill from every border pixel. Background-coloured pixels
   enclosed by the shape (a ring's hole, the white of an eye) stay opaque.
3. **Edge** — shape pixels within ``feather`` pixels of the background (8-neighbour steps) are
   edge pixels. Each is modelled as a mix ``a·F + (1-a)·B`` of the background colour ``B`` and
   the nearest fully opaque pixel's colour ``F``; ``a`` (the projection of the pixel onto the
   line from B to F) is its alpha, and its colour is un-mixed to ``(pixel - (1-a)·B) / a``, so
   no background tint stays on anti-aliased edges. ``binary`` rounds ``a`` to 0 or 1.
4. **Bleeding** — every transparent pixel takes the colour of the nearest fully opaque pixel, so
   an engine's bilinear filter or mipmaps, which mix transparent texels' RGB into the edge,
   show the shape's own colour and no dark (or background-coloured) halo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

SQUARE = np.ones((3, 3), dtype=bool)  # 8-neighbour steps for the edge band
OPAQUE_ENOUGH = 240  # a model's mask value counted as opaque when bleeding colours


@dataclass(frozen=True)
class Matte:
    """A cut-out image: straight (not premultiplied) RGBA, and what was found."""

    rgba: np.ndarray  # (H, W, 4) uint8
    info: dict[str, Any]


def _ring(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def border_colour(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """Per-channel median of the outermost ring of pixels of an (H, W, 3) array (of its
    visible pixels when ``alpha`` says some are fully transparent)."""
    ring = _ring(rgb)
    if alpha is not None and (_ring(alpha) > 0).any():
        ring = ring[_ring(alpha) > 0]
    return np.median(ring, axis=0)


def border_connected(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` connected (4-neighbours) to the image border through ``mask``."""
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    ring = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    keep = np.zeros(count + 1, dtype=bool)
    keep[ring] = True
    keep[0] = False  # label 0 is "not in mask"
    return keep[labels]


def nearest_colours(rgb: np.ndarray, source: np.ndarray) -> np.ndarray:
    """For every pixel, the colour of the nearest pixel where ``source`` is true.

    "Nearest" in chessboard distance (a chamfer transform, 4x faster than the Euclidean one
    and as good for bleeding); ties are broken by scipy's fixed scan order, so the result is
    deterministic.
    """
    from scipy import ndimage

    if not source.any():
        return rgb.copy()
    (iy, ix) = ndimage.distance_transform_cdt(~source, metric="chessboard",
                                              return_distances=False, return_indices=True)
    return rgb[iy, ix]


def source_alpha(image: Image.Image) -> np.ndarray | None:
    """The alpha an image already has (a file-sourced PNG with transparency), else None."""
    if "A" not in image.getbands() and "transparency" not in image.info:
        return None
    return np.asarray(image.convert("RGBA"), dtype=np.uint8)[:, :, 3]


def keep_source_alpha(matte: Matte, alpha: np.ndarray | None) -> Matte:
    """Pixels that were already (partly) transparent stay so: alpha is the smaller of the two;
    newly transparent pixels get the colour bled into them from the nearest opaque pixel."""
    if alpha is None:
        return matte
    rgba = matte.rgba.copy()
    was_visible = rgba[:, :, 3] > 0
    rgba[:, :, 3] = np.minimum(rgba[:, :, 3], alpha)
    hidden = was_visible & (rgba[:, :, 3] == 0)
    if hidden.any():
        opaque = rgba[:, :, 3] == 255
        rgba[hidden, :3] = nearest_colours(rgba[:, :, :3], opaque)[hidden]
    info = {**matte.info, "transparent_fraction": round(float((rgba[:, :, 3] == 0).mean()), 4)}
    return Matte(rgba, info)


def within(rgb: np.ndarray, colour: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels whose every channel is within ``tolerance`` of ``colour`` (uint8 comparisons:
    |x - c| <= t for an integer x is ceil(c - t) <= x <= floor(c + t))."""
    low = np.clip(np.ceil(colour - tolerance), 0, 256).astype(np.int16)
    high = np.clip(np.floor(colour + tolerance), -1, 255).astype(np.int16)
    out = np.ones(rgb.shape[:2], dtype=bool)
    for c in range(3):
        channel = rgb[:, :, c]
        if low[c] > 0:
            out &= channel >= low[c]
        if high[c] < 255:
            out &= channel <= high[c]
    return out


def key_cutout(image: Image.Image, tolerance: float, feather: int, binary: bool) -> Matte:
    """Cut ``image`` out against the colour of its border (see the module docstring).

    Fully transparent pixels of an image that has alpha already count as background too (they
    let the flood fill through), and its partial alpha is kept (the smaller alpha wins)."""
    from scipy import ndimage

    rgb8 = np.asarray(image.convert("RGB"), dtype=np.uint8)
    alpha_in = source_alpha(image)
    background_colour = border_colour(rgb8, alpha_in).astype(np.float64)
    near = within(rgb8, background_colour, tolerance)
    if alpha_in is not None:
        near |= alpha_in == 0
    background = border_connected(near)
    shape = ~background
    if feather > 0 and background.any():
        grown = ndimage.binary_dilation(background, structure=SQUARE, iterations=feather)
        edge = grown & shape
    else:
        edge = np.zeros_like(background)
    core = shape & ~edge
    fill = nearest_colours(rgb8, core)

    alpha8 = core.view(np.uint8) * np.uint8(255)
    out = rgb8.copy()
    if edge.any():
        pixel = rgb8[edge] - background_colour
        towards = fill[edge] - background_colour
        length2 = (towards * towards).sum(axis=1)
        a = np.where(length2 > 0, (pixel * towards).sum(axis=1) / np.maximum(length2, 1e-12),
                     1.0)
        a = np.clip(a, 0.0, 1.0)
        if binary:
            a = (a >= 0.5).astype(np.float64)
        alpha8[edge] = np.round(a * 255.0).astype(np.uint8)
        a = a[:, None]
        unmixed = (pixel + a * background_colour) / np.maximum(a, 1e-6)  # (p - (1-a)·B) / a
        out[edge] = np.round(np.clip(unmixed, 0.0, 255.0)).astype(np.uint8)
    transparent = alpha8 == 0
    np.copyto(out, fill, where=transparent[:, :, None])
    rgba = np.dstack([out, alpha8])
    info = {"background": [round(float(c), 1) for c in background_colour],
            "transparent_fraction": round(np.count_nonzero(transparent) / transparent.size, 4)}
    return keep_source_alpha(Matte(rgba, info), alpha_in)


def mask_cutout(image: Image.Image, mask: np.ndarray, binary: bool) -> Matte:
    """Use an (H, W) uint8 ``mask`` (a model's prediction) as alpha; bleed colours into the
    transparent pixels from the nearest nearly opaque ones (or, if none is, the most opaque).

    Models' masks rarely reach exactly 255 (rembg truncates its 0..1 prediction to 8 bits), so
    "nearly opaque" is ``OPAQUE_ENOUGH`` and up."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    alpha8 = np.where(mask >= 128, 255, 0).astype(np.uint8) if binary else mask.astype(np.uint8)
    transparent = alpha8 == 0
    source = alpha8 >= OPAQUE_ENOUGH
    if not source.any():
        source = alpha8 == alpha8.max()
    out = rgb.copy()
    out[transparent] = nearest_colours(rgb, source)[transparent]
    info = {"transparent_fraction": round(float(transparent.mean()), 4)}
    return keep_source_alpha(Matte(np.dstack([out, alpha8]), info), source_alpha(image))


def trim_box(rgba: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the pixels with any opacity; None when all transparent."""
    rows = np.flatnonzero(rgba[:, :, 3].any(axis=1))
    cols = np.flatnonzero(rgba[:, :, 3].any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
