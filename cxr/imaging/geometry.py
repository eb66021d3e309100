"""Where a source pixel lands in a preprocessed array, and boxes mapped accordingly.

Coordinates are continuous with pixel edges at integers: a box ``x, y, w, h``
covers ``[x, x + w) x [y, y + h)``. A resize by ``s`` then maps an edge at ``x``
to ``x * s`` and padding shifts it by the offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GEOMETRY_COLUMNS = ("width", "height", "scale_x", "scale_y", "offset_x", "offset_y")


@dataclass(frozen=True)
class Geometry:
    """Source image size and the affine map (per-axis scale, then offset) into the array."""

    width: int
    height: int
    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, c) for c in GEOMETRY_COLUMNS)


def boxes_to_array(boxes: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """Map boxes (``image_id, finding, x, y, w, h[, frame]``) into array pixels.

    ``index`` is a preprocessed split index (``image_id``, ``row`` and the geometry
    columns). ``frame`` > 0 says the coordinates live in a ``frame x frame`` grid
    (NIH's list uses the 1024-px grid of the released PNGs) and are first scaled
    to the decoded file's own size; 0 or absent means they already are.
    Returns the boxes of images in ``index`` with ``row, x0, y0, x1, y1`` added.
    """
    cols = ["image_id", "row", *GEOMETRY_COLUMNS]
    merged = boxes.merge(index[cols], on="image_id", how="inner")
    frame = (
        merged["frame"].to_numpy(dtype=np.float64) if "frame" in merged else np.zeros(len(merged))
    )
    fx = np.where(frame > 0, merged.width / np.where(frame > 0, frame, 1), 1.0)
    fy = np.where(frame > 0, merged.height / np.where(frame > 0, frame, 1), 1.0)
    sx, sy = merged.scale_x * fx, merged.scale_y * fy
    out = merged.drop(columns=list(GEOMETRY_COLUMNS))
    out["x0"] = merged.x * sx + merged.offset_x
    out["y0"] = merged.y * sy + merged.offset_y
    out["x1"] = (merged.x + merged.w) * sx + merged.offset_x
    out["y1"] = (merged.y + merged.h) * sy + merged.offset_y
    return out
