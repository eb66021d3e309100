"""SIIM-ACR Pneumothorax Segmentation (2019): ``train-rle.csv`` as the challenge ships it,
read into cxr's terms, with a box around each mask.

Each row is one mask of an image: ``ImageId`` (the DICOM's SOP instance UID) and
``EncodedPixels``, ``-1`` for an image without pneumothorax or the mask run-length
encoded (pairs of *relative* start and length, column by column, over the
1024 x 1024 frame). An image is positive for Pneumothorax when it has a mask; no
other NIH finding is scored. Each mask's box is the smallest one around its
pixels (:func:`rle_box`). The CSV has no patient identifier (the DICOMs do):
each image counts as its own patient here. **Not external to NIH:** SIIM's
films are NIH ChestX-ray14 images, re-read by radiologists.

    >>> rle_box("5 3", width=4, height=4)   # pixels 5, 6, 7: column 1, rows 1 to 3
    (1, 1, 2, 4)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.external.labels import ExternalLabels, finish, left_out, require_columns

SIZE = 1024  # the frame SIIM's masks are encoded in


def rle_mask(rle: str, width: int = SIZE, height: int = SIZE) -> np.ndarray:
    """SIIM's run-length code -> a boolean mask ``(height, width)``."""
    numbers = np.asarray(rle.split(), dtype=np.int64)
    starts, lengths = numbers[0::2], numbers[1::2]
    ends = np.cumsum(starts + lengths)
    flat = np.zeros(width * height, dtype=bool)
    for end, length in zip(ends, lengths, strict=True):
        flat[end - length : end] = True
    return flat.reshape(width, height).T  # encoded column by column


def rle_box(rle: str, width: int = SIZE, height: int = SIZE) -> tuple[int, int, int, int]:
    """The box ``x0, y0, x1, y1`` (pixel edges) around a run-length-coded mask."""
    mask = rle_mask(rle, width, height)
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(xs):
        raise ValueError("an empty mask has no box")
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def read_siim(csv: Path, name: str = "siim") -> ExternalLabels:
    """The images of SIIM's ``csv`` with Pneumothorax scored and a box per mask. ``image``
    is ``<ImageId>.dcm``."""
    rows = pd.read_csv(csv)
    rows.columns = [c.strip() for c in rows.columns]  # the file writes " EncodedPixels"
    require_columns(rows, ["ImageId", "EncodedPixels"], csv)
    rows["source_row"] = np.arange(len(rows)) + 1  # data row in the file, from 1
    rows["image"] = rows.ImageId.astype(str) + ".dcm"
    blank = rows.EncodedPixels.isna() | rows.EncodedPixels.astype(str).str.strip().eq("")
    excluded = [left_out(rows, blank, "EncodedPixels is blank (neither -1 nor a mask)")]
    rows = rows[~blank]
    code = rows.EncodedPixels.astype(str).str.strip()
    rows["positive"] = code != "-1"
    boxes, unreadable = [], pd.Series(False, index=rows.index)
    for i in rows.index[rows.positive]:
        try:
            boxes.append((rows.image[i], *rle_box(code[i])))
        except ValueError:
            unreadable[i] = True
    excluded.append(left_out(rows, unreadable, "EncodedPixels is not a mask (its label counts)"))
    box_table = pd.DataFrame(boxes, columns=["image", "x0", "y0", "x1", "y1"])
    box_table["finding"], box_table["reader"] = "Pneumothorax", ""
    images = rows.groupby("image", sort=False).agg(
        source_row=("source_row", "min"), Pneumothorax=("positive", "max")
    )
    images = images.reset_index()
    images["patient_id"] = images.image.str.removesuffix(".dcm")
    images["view"], images["frontal"] = "frontal", True
    return finish(name, images, ["Pneumothorax"], excluded, box_table)
