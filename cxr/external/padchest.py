"""PadChest (Bustos et al., Medical Image Analysis 2020): the labels CSV as BIMCV ships it
(``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv``), read into cxr's terms.

Each row is an image: ``ImageID`` (the PNG), ``ImageDir`` (its numbered folder),
``PatientID``, ``Projection`` (PA, AP, AP_horizontal = AP supine, L, COSTAL,
EXCLUDE, UNK) and ``Labels``, a Python list of the report's findings from a
vocabulary of 193 (e.g. ``['pleural effusion', 'cardiomegaly']``; ``['normal']``).
A report lists what it found, so a finding of the vocabulary that is absent is
a negative: every NIH finding is scored here. :data:`TO_NIH` names, per NIH
finding, the PadChest labels that are it: the label of the same name and its
named subtypes (``laminar atelectasis``), never a wider or different finding
(``pericardial effusion``, ``subcutaneous emphysema``, ``pseudonodule``,
``mediastinal mass``); docs/external.md compares it with torchxrayvision's.

    >>> nih_labels(["loculated pleural effusion", "pseudonodule"])["Effusion"]
    1.0
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from cxr.external.labels import ExternalLabels, finish, left_out, require_columns
from cxr.findings import FINDINGS

#: NIH finding -> the PadChest labels that are that finding.
TO_NIH = {
    "Atelectasis": (
        "atelectasis", "laminar atelectasis", "lobar atelectasis", "segmental atelectasis",
        "round atelectasis", "total atelectasis", "atelectasis basal",
    ),
    "Cardiomegaly": ("cardiomegaly",),
    "Effusion": ("pleural effusion", "loculated pleural effusion", "loculated fissural effusion"),
    "Infiltration": ("infiltrates",),
    "Mass": ("mass", "pulmonary mass"),
    "Nodule": ("nodule", "multiple nodules"),
    "Pneumonia": ("pneumonia", "atypical pneumonia"),
    "Pneumothorax": ("pneumothorax", "hydropneumothorax"),
    "Consolidation": ("consolidation",),
    "Edema": ("pulmonary edema",),
    "Emphysema": ("emphysema",),
    "Fibrosis": ("pulmonary fibrosis",),
    "Pleural_Thickening": (
        "pleural thickening", "apical pleural thickening", "calcified pleural thickening",
    ),
    "Hernia": ("hiatal hernia",),
}  # fmt: skip
FRONTAL = ("PA", "AP", "AP_horizontal")


def nih_labels(labels: list[str]) -> dict[str, float]:
    """The 14 NIH labels (1.0 or 0.0) of one image's PadChest labels."""
    present = {label.strip() for label in labels}
    return {f: float(any(name in present for name in TO_NIH[f])) for f in FINDINGS}


def read_padchest(csv: Path, frontal_only: bool = True, name: str = "padchest") -> ExternalLabels:
    """The images of PadChest's ``csv`` with their NIH-14 labels; views other than PA, AP
    and AP supine excluded when ``frontal_only``. ``image`` is ``ImageDir/ImageID``."""
    table = pd.read_csv(csv, low_memory=False)
    require_columns(table, ["ImageID", "ImageDir", "PatientID", "Projection", "Labels"], csv)
    table["source_row"] = np.arange(len(table)) + 1  # data row in the file, from 1
    table["image"] = table.ImageDir.astype(str) + "/" + table.ImageID.astype(str)
    table["patient_id"] = table.PatientID.astype(str)
    table["view"] = table.Projection.fillna("UNK")
    table["frontal"] = table.view.isin(FRONTAL)
    parsed = table.Labels.map(_parse)
    unreadable = parsed.isna()
    reason = np.where(table.Labels.isna(), "no labels (Labels is blank)", "Labels is not a list")
    excluded = [left_out(table, unreadable, pd.Series(reason, index=table.index))]
    table, parsed = table[~unreadable], parsed[~unreadable]
    # A report that says only "unchanged" (from a prior film), marks the image "exclude",
    # or lists nothing is not a negative report: its findings are unknown.
    unknown = parsed.map(lambda labels: _not_a_report({label.strip() for label in labels}))
    excluded.append(left_out(table, unknown.notna(), unknown))
    table, parsed = table[unknown.isna()], parsed[unknown.isna()]
    if frontal_only:
        lateral = ~table.frontal
        why = "view " + table.view + " (frontal only: PA, AP, AP_horizontal)"
        excluded.append(left_out(table, lateral, why))
        table, parsed = table[~lateral], parsed[~lateral]
    values = pd.DataFrame([nih_labels(p) for p in parsed], index=table.index)
    table = pd.concat([table, values], axis=1)
    return finish(name, table, list(FINDINGS), excluded)


def _not_a_report(labels: set[str]) -> str | None:
    """Why an image's labels say nothing of its findings (None: they do)."""
    if "exclude" in labels:
        return "labelled 'exclude'"
    if not labels - {"", "unchanged"}:
        return "labels say only 'unchanged'" if "unchanged" in labels else "no findings listed"
    return None


def _parse(text: object) -> list[str] | None:
    """``"['normal', 'nodule']"`` -> the list; None for blank or anything not a list."""
    if not isinstance(text, str):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return [str(v) for v in value] if isinstance(value, list | tuple) else None
