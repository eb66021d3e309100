"""Box localisation of heat maps as in Wang et al. (CVPR 2017): IoBB and IoU accuracy.

Wang et al. threshold each heat map, take the bounding box of every connected
region of the binary map, and count a case as localised when a predicted box
overlaps a true box by more than T, for T(IoBB) and T(IoU) in 0.1 ... 0.75.
IoBB (intersection over the *predicted* box) rewards small boxes, so it is
reported with IoU and against a control.

The control is a smooth random map: uniform noise on a coarse grid (a
GradCAM map is that coarse: one value per feature-map cell) resized to the
image, thresholded and boxed the same way. A heat map that localises no better
than noise localises nothing.

Boxes are ``[x0, y0, x1, y1]`` in array pixels, pixel ``(r, c)`` covering
``[c, c + 1) x [r, r + 1)``, the convention of the ingested box table.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Wang et al.'s overlap thresholds.
OVERLAP_THRESHOLDS = (0.1, 0.25, 0.5, 0.75)
#: Pixels per cell of the random control's noise grid (a stride-8 feature map).
CONTROL_CELL = 8


def heatmap_boxes(cam: np.ndarray, threshold: float) -> np.ndarray:
    """Bounding boxes ``[K, 4]`` of the 8-connected regions where ``cam >= threshold * max``."""
    peak = float(cam.max())
    if not np.isfinite(peak) or peak <= 0:
        return np.zeros((0, 4))
    binary = (cam >= threshold * peak).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    x, y, w, h = (stats[1:, i].astype(np.float64) for i in range(4))  # label 0 is background
    return np.stack([x, y, x + w, y + h], axis=1) if count > 1 else np.zeros((0, 4))


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas ``[len(a), len(b)]``."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iobb(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Intersection over the predicted box's area, ``[len(predicted), len(truth)]``."""
    return _intersection(predicted, truth) / _area(predicted)[:, None]


def iou(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Intersection over union, ``[len(predicted), len(truth)]``."""
    inter = _intersection(predicted, truth)
    return inter / (_area(predicted)[:, None] + _area(truth)[None, :] - inter)


def best_overlaps(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """The largest IoBB and the largest IoU over all (predicted, true) box pairs; 0 if none."""
    if not len(predicted) or not len(truth):
        return 0.0, 0.0
    return float(iobb(predicted, truth).max()), float(iou(predicted, truth).max())


def random_map(size: int, rng: np.random.Generator, cell: int = CONTROL_CELL) -> np.ndarray:
    """Smooth uniform noise ``[size, size]``: a coarse random grid resized bilinearly."""
    grid = max(1, size // cell)
    coarse = rng.random((grid, grid)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)


def accuracy(overlaps: np.ndarray, thresholds=OVERLAP_THRESHOLDS) -> dict[str, float]:
    """Share of cases whose best overlap is above each T (Wang et al.: "larger than T")."""
    overlaps = np.asarray(overlaps, dtype=float)
    return {f"{t:g}": round(float((overlaps > t).mean()), 4) for t in thresholds}
