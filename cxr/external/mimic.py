"""MIMIC-CXR-JPG (Johnson et al., 2019): the label, metadata and split files PhysioNet ships,
read into cxr's terms.

``mimic-cxr-2.0.0-chexpert.csv`` labels each *study* (``subject_id``,
``study_id``) with the CheXpert labeller's 14 observations, coded as CheXpert's
(1, 0, -1, blank), so the same seven NIH findings are scored and the same rules
apply (``cxr.external.chexpert``). ``mimic-cxr-2.0.0-metadata.csv`` lists each
image (``dicom_id``) of a study with its ``ViewPosition``, and
``mimic-cxr-2.0.0-split.csv`` its official split. Images live at
``files/p<first two digits>/p<subject_id>/s<study_id>/<dicom_id>.jpg``. The
patient is ``subject_id``. No real MIMIC file can be had here: the reader is
tested on files written to these documented columns (tests/test_external_mimic.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.errors import InputError
from cxr.external.chexpert import TO_NIH, bad_labels, nih_labels
from cxr.external.labels import (
    OFFICIAL_SPLIT,
    ExternalLabels,
    Uncertain,
    finish,
    left_out,
    require_columns,
)

LABELS = "mimic-cxr-2.0.0-chexpert.csv"
METADATA = "mimic-cxr-2.0.0-metadata.csv"
SPLIT = "mimic-cxr-2.0.0-split.csv"
FRONTAL = ("PA", "AP")
#: The split file's names in cxr's (kept when MIMIC is trained on: ``ingest.sources``).
OFFICIAL_NAMES = {"train": "train", "validate": "val", "test": "test"}


def mimic_file(folder: Path, name: str) -> Path:
    """``folder/name`` or its ``.gz``, as PhysioNet ships it; an error naming both if neither."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder}: neither {name} nor {name}.gz (MIMIC-CXR-JPG's own files)")


def read_mimic(
    folder: Path,
    uncertain: Uncertain = "ignore",
    frontal_only: bool = True,
    splits: tuple[str, ...] = ("train", "validate", "test"),
    name: str = "mimic",
) -> ExternalLabels:
    """The images of the MIMIC-CXR-JPG folder with their study's NIH-14 labels; views other
    than PA and AP excluded when ``frontal_only``, splits other than ``splits`` always."""
    names = {"labels": LABELS, "meta": METADATA, "split": SPLIT}
    files = {k: mimic_file(folder, v) for k, v in names.items()}
    meta, labels = pd.read_csv(files["meta"]), pd.read_csv(files["labels"])
    split = pd.read_csv(files["split"])
    require_columns(meta, ["dicom_id", "subject_id", "study_id", "ViewPosition"], files["meta"])
    require_columns(labels, ["subject_id", "study_id", *TO_NIH.values()], files["labels"])
    require_columns(split, ["dicom_id", "split"], files["split"])
    meta["source_row"] = np.arange(len(meta)) + 1  # data row of the metadata file, from 1
    meta["image"] = [
        f"files/p{str(s)[:2]}/p{s}/s{t}/{d}.jpg"
        for s, t, d in zip(meta.subject_id, meta.study_id, meta.dicom_id, strict=True)
    ]
    for frame, keys, path in ((split, ["dicom_id"], files["split"]),
                              (labels, ["subject_id", "study_id"], files["labels"])):  # fmt: skip
        twice = frame.duplicated(keys, keep=False)
        if twice.any():
            raise InputError(
                f"{path}: {int(twice.sum())} rows repeat a {'/'.join(keys)} (first: "
                f"{frame.loc[twice, keys].iloc[0].tolist()}); one row each is expected"
            )
    table = meta.merge(split[["dicom_id", "split"]], on="dicom_id", how="left")
    table = table.merge(labels, on=["subject_id", "study_id"], how="left", indicator=True)
    excluded = [left_out(table, table._merge != "both", f"its study has no row in {LABELS}")]
    table = table[table._merge == "both"]
    elsewhere = ~table.split.isin(splits)
    excluded.append(left_out(table, elsewhere, "split " + table.split.fillna("unknown")))
    table = table[~elsewhere]
    bad = bad_labels(table)
    excluded.append(left_out(table, bad.notna(), bad))
    table = table[bad.isna()]
    table["patient_id"] = table.subject_id.astype(str)
    table[OFFICIAL_SPLIT] = table.split.map(OFFICIAL_NAMES)
    table["view"] = table.ViewPosition.fillna("unknown")
    table["frontal"] = table.view.isin(FRONTAL)
    if frontal_only:
        why = "view " + table.view + " (frontal views only: PA, AP)"
        excluded.append(left_out(table, ~table.frontal, why))
        table = table[table.frontal]
    return finish(name, nih_labels(table, uncertain), list(TO_NIH), excluded)
