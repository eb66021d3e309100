"""The pointing game (Zhang et al., ECCV 2016): is a map's maximum inside a true box?

A hit is counted when the maximum lies within ``tolerance`` pixels of one of
the image's boxes of that class (Zhang et al. allow 15 px on 224-px images;
here the tolerance scales with the image). The control is the same game for a
uniform random map, whose maximum is a uniformly random pixel: both its
seeded draw and its exact expectation (the share of pixels within tolerance
of a box) are reported. A map that is no better than its control explains
nothing.
"""

from __future__ import annotations

import numpy as np


def near_box_mask(boxes: np.ndarray, size: int, tolerance: float) -> np.ndarray:
    """Pixels whose centres lie within ``tolerance`` of any box ``[x0, y0, x1, y1]`` (array px)."""
    c = np.arange(size) + 0.5
    mask = np.zeros((size, size), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        dx = np.maximum(np.maximum(x0 - c, c - x1), 0.0)
        dy = np.maximum(np.maximum(y0 - c, c - y1), 0.0)
        mask |= (dy[:, None] <= tolerance) & (dx[None, :] <= tolerance)
    return mask


def pointing_hit(cam: np.ndarray, boxes: np.ndarray, tolerance: float) -> bool:
    """Whether the (first) maximum of ``cam`` is within ``tolerance`` of a box."""
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return bool(near_box_mask(boxes, cam.shape[0], tolerance)[y, x])


def random_control(
    boxes: np.ndarray, size: int, tolerance: float, rng: np.random.Generator
) -> tuple[bool, float]:
    """A uniform random map's hit (seeded draw) and its expected hit rate."""
    mask = near_box_mask(boxes, size, tolerance)
    y, x = rng.integers(0, size, 2)
    return bool(mask[y, x]), float(mask.mean())
