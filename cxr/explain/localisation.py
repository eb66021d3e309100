"""Box localisation of heat maps as in Wang et al. (CVPR 2017): IoBB and IoU accuracy.

Wang et al. threshold each heat map, take the bounding box of every connected
region of the binary map, and count a case as localised when a predicted box
overlaps a true box by more than T, for T(IoBB) and T(IoU) in 0.1 ... 0.75.
IoBB (intersection over the *predicted* box) rewards small boxes, so it is
reported with IoU and against a control.

The control is a random map built the way GradCAM builds its map: uniform
noise on the grid of each layer GradCAM hooks (one value per feature-map
cell), each scaled to [0, 1] and resized to the image, averaged and rescaled
(pytorch-grad-cam's multi-layer rule). It is thresholded and boxed, and
pointed with, exactly like the real map, so it has the same coarseness. A
heat map that localises no better than noise localises nothing.

Boxes are ``[x0, y0, x1, y1]`` in array pixels, pixel ``(r, c)`` covering
``[c, c + 1) x [r, r + 1)``, the convention of the ingested box table.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: Wang et al.'s overlap thresholds.
OVERLAP_THRESHOLDS = (0.1, 0.25, 0.5, 0.75)


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


def random_map(size: int, grids: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """A random map ``[size, size]`` as coarse as a GradCAM map over layers of ``grids`` cells."""
    layers = []
    for grid in grids:
        noise = rng.random((grid, grid)).astype(np.float32)
        noise = (noise - noise.min()) / (1e-7 + noise.max() - noise.min())
        layers.append(cv2.resize(noise, (size, size)))  # bilinear, as pytorch-grad-cam
    mean = np.mean(layers, axis=0)
    return (mean - mean.min()) / (1e-7 + mean.max() - mean.min())
