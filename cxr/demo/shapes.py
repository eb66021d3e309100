"""Smooth shape fields on a normalised grid (u right, v down, both in [0, 1]).

Edges are soft (a logistic ramp a few hundredths of the image wide at most), so
phantoms render without aliasing at any size and look like radiographs, whose
edges are never sharp.

Fields are float64 although float32 would do for the looks: numpy and OpenCV
pick SIMD kernels by CPU (AVX-512 or AVX2) and change them between releases,
and float32 ``power``, ``arctan2`` and warps then differ in the last bit. A
last-bit difference flips a rounded pixel, a thresholded mask or a box edge
with a probability of about the error over the step, which for float32 put one
grey level of about 1 image in 14 on another CPU (docs/environment.md). In
float64 the same odds are about 1e-13 per pixel.
"""

from __future__ import annotations

import cv2
import numpy as np


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(u, v)`` of a ``size x size`` image in [0, 1]."""
    c = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.meshgrid(c, c)


def ramp(d: np.ndarray, edge: float) -> np.ndarray:
    """0 outside, 1 inside, for a signed field ``d`` that is positive inside."""
    return 1.0 / (1.0 + np.exp(-np.clip(d / max(edge, 1e-6), -30, 30)))


def ellipse_field(u, v, cx, cy, rx, ry, angle=0.0, power=2.0) -> np.ndarray:
    """``1 - r`` of a (super)ellipse: positive inside, about distance/radius near the edge."""
    du, dv = u - cx, v - cy
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        du, dv = c * du + s * dv, -s * du + c * dv
    if power == 2.0:
        return 1.0 - np.sqrt((du / rx) ** 2 + (dv / ry) ** 2)
    r = (np.abs(du / rx) ** power + np.abs(dv / ry) ** power) ** (1.0 / power)
    return 1.0 - r


def ellipse(u, v, cx, cy, rx, ry, edge, angle=0.0, power=2.0) -> np.ndarray:
    """Soft mask of an ellipse; ``edge`` is in image units."""
    return ramp(ellipse_field(u, v, cx, cy, rx, ry, angle, power) * min(rx, ry), edge)


def segment(u, v, p0, p1, half_width, edge) -> np.ndarray:
    """Soft mask of a thick line segment from ``p0`` to ``p1``."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((u - x0) * dx + (v - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    dist = np.hypot(u - (x0 + t * dx), v - (y0 + t * dy))
    return ramp(half_width - dist, edge)


def gaussian(u, v, cx, cy, sx, sy) -> np.ndarray:
    return np.exp(-0.5 * (((u - cx) / sx) ** 2 + ((v - cy) / sy) ** 2))


def smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian noise smoothed at ``scale`` (image units)."""
    # Drawn as float32 (the stream the data set was made with), blurred as float64.
    noise = rng.standard_normal((size, size), dtype=np.float32).astype(np.float64)
    sigma = max(scale * size, 0.3)
    out = cv2.GaussianBlur(noise, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    std = float(out.std())
    return out / std if std > 0 else out


def ridges(rng: np.random.Generator, size: int, scale: float, sharpness: float = 6.0) -> np.ndarray:
    """Thin branching bright lines in [0, 1]: the zero set of smooth noise.

    Looks like vessels or a reticular net depending on ``scale``.
    """
    n = smooth_noise(rng, size, scale)
    return np.exp(-sharpness * np.abs(n))


def mask_box(mask: np.ndarray, level: float = 0.5) -> tuple[float, float, float, float] | None:
    """``(u0, v0, u1, v1)`` bounding the pixels of ``mask`` above ``level``, or None."""
    ys, xs = np.nonzero(mask > level)
    if len(xs) == 0:
        return None
    size = mask.shape[0]
    return xs.min() / size, ys.min() / size, (xs.max() + 1) / size, (ys.max() + 1) / size
