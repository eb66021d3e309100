"""VinDr-CXR (Nguyen et al., Scientific Data 2022): the per-radiologist box file
(``train.csv`` of the Kaggle release, ``annotations_train.csv`` on PhysioNet), read into
cxr's terms.

Each row is one radiologist's finding on one image: ``image_id``, ``class_name``,
``rad_id`` and its box ``x_min, y_min, x_max, y_max`` in the DICOM's pixels
(blank for "No finding"). Every training image was read by three radiologists;
an image has a finding when any of them marked it (torchxrayvision's rule and
the challenge's), and keeps every reader's box. Eight classes are NIH findings
(:data:`TO_NIH`); "Nodule/Mass" merges two NIH findings and cannot score either,
so Nodule and Mass stay unscored, as do Pneumonia, Edema, Emphysema and Hernia.
VinDr releases no patient identifiers: each image counts as its own patient.

    >>> TO_NIH["Fibrosis"]
    'Pulmonary fibrosis'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.external.labels import ExternalLabels, finish, left_out, require_columns

#: NIH finding -> VinDr class.
TO_NIH = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Effusion": "Pleural effusion",
    "Infiltration": "Infiltration",
    "Pneumothorax": "Pneumothorax",
    "Consolidation": "Consolidation",
    "Fibrosis": "Pulmonary fibrosis",
    "Pleural_Thickening": "Pleural thickening",
}
_CORNERS = ["x_min", "y_min", "x_max", "y_max"]


def read_vindr(csv: Path, name: str = "vindr") -> ExternalLabels:
    """The images of VinDr's ``csv`` with their NIH-14 labels and every radiologist's boxes
    of the eight NIH findings. ``image`` is ``<image_id>.dicom``."""
    rows = pd.read_csv(csv)
    require_columns(rows, ["image_id", "class_name", "rad_id", *_CORNERS], csv)
    rows["source_row"] = np.arange(len(rows)) + 1  # data row in the file, from 1
    rows["image"] = rows.image_id.astype(str) + ".dicom"
    nih = {v: k for k, v in TO_NIH.items()}
    rows["finding"] = rows.class_name.map(nih)
    mapped = rows[rows.finding.notna()]
    unboxed = mapped[_CORNERS].isna().any(axis=1) | (mapped.x_max <= mapped.x_min)
    unboxed |= mapped.y_max <= mapped.y_min
    excluded = [left_out(mapped, unboxed, "a finding without a valid box (its label counts)")]
    boxes = mapped[~unboxed].rename(
        columns={"x_min": "x0", "y_min": "y0", "x_max": "x1", "y_max": "y1", "rad_id": "reader"}
    )
    images = rows.groupby("image", sort=False).agg(source_row=("source_row", "min"))
    found = mapped.groupby(["image", "finding"]).size().unstack(fill_value=0) > 0
    images = images.join(found.reindex(columns=list(TO_NIH), fill_value=False)).fillna(False)
    images[list(TO_NIH)] = images[list(TO_NIH)].astype(np.float32)
    images = images.reset_index()
    images["patient_id"] = images.image.str.removesuffix(".dicom")
    images["view"], images["frontal"] = "frontal", True
    return finish(name, images, list(TO_NIH), excluded, boxes)
