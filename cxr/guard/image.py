"""Model-free checks on a preprocessed array: what no radiograph looks like.

Each check is a physical property every radiograph has, whatever the hospital,
scanner or model: grey levels that vary (not a blank frame), neighbouring pixels
that agree (not noise or a fine texture), more than two tones (not a binary
mask, a chessboard or a scanned line drawing) and local structure (not a smooth
ramp). The cuts are constants, not fitted: set well outside the range of both
the demo's and the real NIH sample's radiographs (docs/guard.md gives both
ranges), so that a model trained on phantoms does not call a real film "not a
radiograph".

Example::

    >>> import numpy as np
    >>> failed_checks(np.zeros((64, 64), np.uint8))
    ['blank']
"""

from __future__ import annotations

import cv2
import numpy as np

#: Standard deviation of grey levels (0-255) under which an image is blank.
MIN_STD = 4.0
#: Above this it is two-toned (radiographs: under 90; a black-and-white image: over 110).
MAX_STD = 105.0
#: Correlation of horizontally and vertically adjacent pixels under which an image is noise.
MIN_NEIGHBOUR_CORRELATION = 0.6
#: Share of the variance left after a 1/16-side blur under which an image has no structure
#: (a ramp, a vignette): radiographs keep ribs, vessels and edges.
MIN_FINE_STRUCTURE = 0.05

CHECKS = ("blank", "two-tone", "noise", "no structure")


def image_statistics(image: np.ndarray) -> dict[str, float]:
    """The statistics the checks read, of one ``uint8 [S, S]`` array."""
    x = image.astype(np.float64)
    std = float(x.std())
    if std == 0.0:
        return {"std": 0.0, "neighbour_correlation": 0.0, "fine_structure": 0.0}
    neighbours = np.mean([_correlation(x[:, :-1], x[:, 1:]), _correlation(x[:-1, :], x[1:, :])])
    blurred = cv2.GaussianBlur(x, (0, 0), sigmaX=x.shape[0] / 16, borderType=cv2.BORDER_REFLECT)
    fine = float(((x - blurred) ** 2).mean() / std**2)
    return {"std": std, "neighbour_correlation": float(neighbours), "fine_structure": fine}


def failed_checks(image: np.ndarray) -> list[str]:
    """The names (of :data:`CHECKS`) of the checks ``image`` fails; empty for a radiograph."""
    s = image_statistics(image)
    failed = []
    if s["std"] < MIN_STD:
        return ["blank"]
    if s["std"] > MAX_STD:
        failed.append("two-tone")
    if s["neighbour_correlation"] < MIN_NEIGHBOUR_CORRELATION:
        failed.append("noise")
    if s["fine_structure"] < MIN_FINE_STRUCTURE:
        failed.append("no structure")
    return failed


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    scale = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / scale) if scale > 0 else 0.0
