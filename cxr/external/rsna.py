"""RSNA Pneumonia Detection (Shih et al., Radiology: AI 2019): ``stage_2_train_labels.csv``
as Kaggle ships it, read into cxr's terms.

Each row is a box (or, with ``Target`` 0, an image without one): ``patientId``,
``x, y, width, height`` in the DICOM's 1024-px frame, ``Target``. An image is
positive for Pneumonia when it has a box (the challenge's "Lung Opacity" class,
opacities suggestive of pneumonia); no other NIH finding is scored. One image per
``patientId``. **Not external to NIH:** the images are NIH ChestX-ray14 films
re-read by radiologists, so this set measures the model against radiologists'
labels on NIH's own hospital, and its patients may be in the NIH training split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.external.labels import ExternalLabels, finish, left_out, require_columns


def read_rsna(csv: Path, name: str = "rsna") -> ExternalLabels:
    """The images of RSNA's ``csv`` with Pneumonia scored and its boxes. ``image`` is
    ``<patientId>.dcm``."""
    rows = pd.read_csv(csv)
    require_columns(rows, ["patientId", "x", "y", "width", "height", "Target"], csv)
    rows["source_row"] = np.arange(len(rows)) + 1  # data row in the file, from 1
    rows["image"] = rows.patientId.astype(str) + ".dcm"
    bad_target = ~rows.Target.isin([0, 1])
    excluded = [left_out(rows, bad_target, "Target is " + rows.Target.astype(str) + ", not 0 or 1")]
    rows = rows[~bad_target]
    positive = rows.Target == 1
    corners = rows[["x", "y", "width", "height"]]
    unboxed = positive & (corners.isna().any(axis=1) | (rows.width <= 0) | (rows.height <= 0))
    excluded.append(left_out(rows, unboxed, "Target 1 without a valid box (its label counts)"))
    boxed = rows[positive & ~unboxed]
    boxes = pd.DataFrame(
        {
            "image": boxed.image,
            "finding": "Pneumonia",
            "x0": boxed.x,
            "y0": boxed.y,
            "x1": boxed.x + boxed.width,
            "y1": boxed.y + boxed.height,
            "reader": "",
        }
    )
    images = rows.groupby("image", sort=False).agg(
        source_row=("source_row", "min"),
        Pneumonia=("Target", "max"),
        patient_id=("patientId", "first"),
    )
    images = images.reset_index()
    images["patient_id"] = images.patient_id.astype(str)
    images["view"], images["frontal"] = "frontal", True  # RSNA kept frontal films only
    return finish(name, images, ["Pneumonia"], excluded, boxes)
