"""The pointing game (Zhang et al., ECCV 2016): is a map's maximum on a true box?

A hit is counted when the maximum lies within ``tolerance`` pixels of one of
the image's boxes of that class: inside the box, or in a disk of that radius
around it, as in Zhang et al.'s evaluation (15 px on 224-px images; here the
tolerance scales with the image). A map must beat the control, random maps
built like the GradCAM map (``cxr.explain.localisation.random_map``).
"""

from __future__ import annotations

import numpy as np


def near_box_mask(boxes: np.ndarray, size: int, tolerance: float) -> np.ndarray:
    """Pixels whose centres lie within Euclidean ``tolerance`` of any box ``[x0, y0, x1, y1]``."""
    c = np.arange(size) + 0.5
    mask = np.zeros((size, size), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        dx = np.maximum(np.maximum(x0 - c, c - x1), 0.0)  # distance to the box along x
        dy = np.maximum(np.maximum(y0 - c, c - y1), 0.0)
        mask |= dy[:, None] ** 2 + dx[None, :] ** 2 <= tolerance**2
    return mask


def pointing_hit(cam: np.ndarray, boxes: np.ndarray, tolerance: float) -> bool:
    """Whether the (first) maximum of ``cam`` is within ``tolerance`` of a box."""
    return pointing_hits(cam[None], near_box_mask(boxes, cam.shape[0], tolerance))[0]


def pointing_hits(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per map ``[K, H, W]``, whether its (first) maximum falls on ``mask`` ``[H, W]``."""
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    return mask.reshape(-1)[flat]
