"""The map algorithms: numpy only, float32, deterministic. Every function takes an (H, W)
float32 array and returns one; ``wrap = (x, y)`` says which axes wrap around (tiled textures),
the others clamp to the edge pixel.

* **luminance** — Rec. 709 weights on the sRGB values scaled to 0..1 (alpha is ignored).
* **height** — luminance, Gaussian-blurred by ``blur`` pixels (sigma; 0 = none), optionally
  inverted (dark = high); written stretched to the full 0-255 range.
* **normal** — from the gradient of the (unstretched) height: a 3×3 Sobel filter, so a one-pixel
  step from black to white has slope 4 per pixel, times ``strength``. Normal = normalise(-s·dh/dx,
  -s·dh/dy_up, 1), with y up the image for OpenGL (green = +Y: Godot, Unity, Blender) and
  flipped for DirectX (Unreal, 3ds Max). Encoded as ``128 + 127·n`` (128 = 0; flat = 128,128,255).
  Computed in strips of rows that stay in the CPU cache (``normal_map``).
* **roughness** — ``low + (high - low) · (1 - luminance stretched to 0..1)``: dark areas (cracks,
  grime) rough, bright areas smoother. A starting point for an artist, not a measurement.
* **ao** — cavities: how far a pixel lies below the average height around it (a Gaussian of
  sigma ``radius``): ``ao = 1 - strength · max(0, average - height)``, clipped to 0..1, with the
  height stretched to 0..1. Pits and grooves darken, flats and ridges stay white. The average
  is three box blurs per axis (about a Gaussian), so a large radius costs no more.
"""

from __future__ import annotations

import math

import numpy as np

Wrap = tuple[bool, bool]  # (x, y): wrap around along the width, along the height
REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
NORMAL_ZERO, NORMAL_SCALE = 128.0, 127.0


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3+) uint8 → (H, W) float32 in 0..1."""
    w = REC709 / np.float32(255.0)
    out = rgb[:, :, 0] * w[0]
    out += rgb[:, :, 1] * w[1]
    out += rgb[:, :, 2] * w[2]
    return out


def stretch(a: np.ndarray) -> np.ndarray:
    """``a`` mapped linearly onto 0..1 (a flat array becomes 0.5)."""
    low, high = float(a.min()), float(a.max())
    if high - low < 1e-6:
        return np.full_like(a, 0.5)
    return (a - np.float32(low)) * np.float32(1.0 / (high - low))


def _pad(a: np.ndarray, r: int, wrap: Wrap, axes: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Pad ``r`` pixels along ``axes``: wrap-around on tiled axes, edge pixels elsewhere."""
    for axis in axes:
        widths = [(0, 0), (0, 0)]
        widths[axis] = (r, r)
        a = np.pad(a, widths, mode="wrap" if wrap[1 - axis] else "edge")
    return a


def gaussian_kernel(sigma: float) -> np.ndarray | None:
    """Normalised 1-D Gaussian of radius 2.5·sigma (the tails beyond hold 1 % of the weight);
    None for sigma <= 0."""
    if sigma <= 0:
        return None
    r = max(1, math.ceil(2.5 * sigma))
    k = np.exp(-(np.arange(-r, r + 1, dtype=np.float64) ** 2) / (2 * sigma * sigma))
    return (k / k.sum()).astype(np.float32)


def blur_valid(p: np.ndarray, k: np.ndarray | None) -> np.ndarray:
    """Separable blur of an already padded array, keeping only fully covered pixels (the
    result is 2r smaller on each axis)."""
    if k is None:
        return p
    r = len(k) // 2
    for axis in (1, 0):
        n = p.shape[axis] - 2 * r

        def tap(i: int, p: np.ndarray = p, axis: int = axis, n: int = n) -> np.ndarray:
            return p[:, i:i + n] if axis == 1 else p[i:i + n, :]

        out = k[r] * tap(r)
        pair = np.empty_like(out)
        for i in range(r):  # symmetric kernel: one multiply per pair of taps
            np.add(tap(i), tap(2 * r - i), out=pair)
            pair *= k[i]
            out += pair
        p = out
    return p


def gaussian_blur(a: np.ndarray, sigma: float, wrap: Wrap) -> np.ndarray:
    """Separable Gaussian blur, neighbours wrapped on tiled axes, clamped elsewhere."""
    k = gaussian_kernel(sigma)
    return a if k is None else blur_valid(_pad(a, len(k) // 2, wrap), k)


def box_blur3(a: np.ndarray, sigma: float, wrap: Wrap) -> np.ndarray:
    """Three box blurs per axis (running sums): a Gaussian of about ``sigma`` whose cost does
    not grow with the radius. Box width ``sqrt(4·sigma² + 1)``, rounded to an odd number."""
    r = max(1, round((math.sqrt(4 * sigma * sigma + 1) - 1) / 2))
    width = 2 * r + 1
    b = a.astype(np.float64)  # running sums in float64: exact enough to stay shift-invariant
    for axis in (1, 0):
        n = b.shape[axis]
        for _ in range(3):
            c = np.cumsum(_pad(b, r + 1, wrap, (axis,)), axis=axis)
            hi = c[:, width:width + n] if axis == 1 else c[width:width + n]
            lo = c[:, :n] if axis == 1 else c[:n]
            b = hi - lo
            b *= 1.0 / width
    return b.astype(np.float32)


def height_field(rgb: np.ndarray, blur: float, invert: bool, wrap: Wrap) -> np.ndarray:
    """Luminance, blurred, inverted when asked: heights in 0..1 (not stretched)."""
    h = gaussian_blur(luminance(rgb), blur, wrap)
    return 1.0 - h if invert else h


def sobel_valid(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dh/dx, dh/drow) of a padded array by a 3×3 Sobel filter (1 pixel smaller each side).

    Separable: a [1, 2, 1] smoothing across the derivative, then a central difference."""
    across = p[1:-1] * 2  # smoothed across rows, for dh/dx
    across += p[:-2]
    across += p[2:]
    dx = across[:, 2:] - across[:, :-2]
    across = p[:, 1:-1] * 2  # smoothed across columns, for dh/drow
    across += p[:, :-2]
    across += p[:, 2:]
    drow = across[2:] - across[:-2]
    return dx, drow


def sobel(h: np.ndarray, wrap: Wrap) -> tuple[np.ndarray, np.ndarray]:
    """(dh/dx, dh/drow): 3×3 Sobel, neighbours wrapped on tiled axes, clamped elsewhere."""
    return sobel_valid(_pad(h, 1, wrap))


def encode_normals(dx: np.ndarray, drow: np.ndarray, strength: float, convention: str,
                   out: np.ndarray) -> None:
    """Write normalise(-s·dx, ±s·drow, 1) as ``128 + 127·n`` into the uint8 (H, W, 3) ``out``.

    A height rising down the image (+row) faces up the image: +Y in OpenGL's convention, -Y
    in DirectX's."""
    s = np.float32(strength)
    inv = dx * dx
    inv += drow * drow
    inv *= s * s
    inv += 1.0
    np.sqrt(inv, out=inv)
    np.reciprocal(inv, out=inv)
    scale = np.float32(NORMAL_SCALE) * s
    sign_y = 1.0 if convention == "opengl" else -1.0
    for channel, (component, factor) in enumerate(
            ((dx, -scale), (drow, sign_y * scale), (None, np.float32(NORMAL_SCALE)))):
        c = inv * factor if component is None else component * inv
        if component is not None:
            c *= factor
        # 128 + 127·n lies in 1..255 (|n| <= 1); +0.5 then truncation rounds half up.
        c += NORMAL_ZERO + 0.5
        out[:, :, channel] = c


def normal_map(rgb: np.ndarray, blur: float, invert: bool, strength: float, convention: str,
               wrap: Wrap, rows: int = 32) -> np.ndarray:
    """(H, W, 3) uint8 tangent-space normals of the height field of ``rgb``.

    The same arithmetic as ``sobel(height_field(...))`` but done in strips of ``rows`` rows
    that stay in the CPU cache: the luminance is padded once (wrapped or clamped) by the blur
    radius plus the Sobel pixel, and each strip is blurred and differentiated "valid" from its
    rows of the padded array. (At clamped edges the Sobel filter thus sees the blur of the
    edge-extended image, where padding the blurred image would repeat its edge pixels.)"""
    k = gaussian_kernel(blur)
    margin = (len(k) // 2 if k is not None else 0) + 1
    lum = luminance(rgb)
    padded = _pad(1.0 - lum if invert else lum, margin, wrap)
    height, width = lum.shape
    out = np.empty((height, width, 3), dtype=np.uint8)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = blur_valid(padded[top:bottom + 2 * margin], k)
        dx, drow = sobel_valid(strip)
        encode_normals(dx, drow, strength, convention, out[top:bottom])
    return out


def roughness_map(rgb: np.ndarray, low: float, high: float) -> np.ndarray:
    """(H, W) uint8: dark = rough (``high``), bright = smooth (``low``)."""
    r = np.float32(low) + np.float32(high - low) * (1.0 - stretch(luminance(rgb)))
    return to_grey(r)


def ao_map(h: np.ndarray, radius: float, strength: float, wrap: Wrap) -> np.ndarray:
    """(H, W) uint8 cavity occlusion of height field ``h`` (white = unoccluded)."""
    hn = stretch(h)
    cavity = np.maximum(box_blur3(hn, radius, wrap) - hn, 0.0)
    return to_grey(1.0 - np.float32(strength) * cavity)


def to_grey(a: np.ndarray) -> np.ndarray:
    """0..1 floats → uint8 grey levels (clipped)."""
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
