"""CheXpert (Irvin et al., AAAI 2019): ``train.csv`` / ``valid.csv`` as Stanford ships them,
read into cxr's terms.

Each row is an image: ``Path`` (``CheXpert-v1.0[-small]/train/patient00001/study1/
view1_frontal.jpg``), ``Frontal/Lateral``, ``AP/PA`` and 14 observations, each 1
(positive), 0 (negative), -1 (uncertain) or blank (not mentioned in the report).
Seven of them are NIH findings (:data:`TO_NIH`); the other seven NIH findings
have no CheXpert label and stay unscored. Blank counts as negative, as the
CheXpert labeller and paper treat it (the report does not mention it);
uncertain follows ``uncertain`` (default ``ignore``: left out of the metrics,
the paper's U-Ignore). The patient is the ``patientNNNNN`` folder.

    >>> TO_NIH["Effusion"]
    'Pleural Effusion'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.external.labels import (
    UNCERTAIN_VALUE,
    ExternalLabels,
    Uncertain,
    finish,
    left_out,
    require_columns,
)

#: NIH finding -> CheXpert observation. Unscored: Infiltration, Mass, Nodule, Emphysema,
#: Fibrosis, Pleural_Thickening, Hernia (CheXpert's "Lung Lesion", "Lung Opacity" and
#: "Pleural Other" are broader than any of them; docs/external.md).
TO_NIH = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Effusion": "Pleural Effusion",
    "Pneumonia": "Pneumonia",
    "Pneumothorax": "Pneumothorax",
    "Consolidation": "Consolidation",
    "Edema": "Edema",
}
_VALUES = {1.0, 0.0, -1.0}


def read_chexpert(
    csv: Path, uncertain: Uncertain = "ignore", frontal_only: bool = True, name: str = "chexpert"
) -> ExternalLabels:
    """The images of CheXpert's ``csv`` with their NIH-14 labels; laterals excluded when
    ``frontal_only``. ``image`` is ``Path`` below the data set's folder
    (``train/patient00001/study1/view1_frontal.jpg``)."""
    table = pd.read_csv(csv)
    require_columns(table, ["Path", "Frontal/Lateral", "AP/PA", *TO_NIH.values()], csv)
    table["source_row"] = np.arange(len(table)) + 1  # data row in the file, from 1
    table["image"] = table.Path.str.replace(r"^CheXpert-v1\.0[^/]*/", "", regex=True)
    table["patient_id"] = table.Path.str.extract(r"(patient\d+)", expand=False)
    table["frontal"] = table["Frontal/Lateral"].eq("Frontal")
    table["view"] = np.where(table.frontal, table["AP/PA"].fillna("frontal"), "LATERAL")
    excluded = [left_out(table, table.patient_id.isna(), "no patient folder in Path")]
    table = table[table.patient_id.notna()]
    bad = bad_labels(table)
    excluded.append(left_out(table, bad.notna(), bad))
    table = table[bad.isna()]
    if frontal_only:
        excluded.append(left_out(table, ~table.frontal, "lateral view (frontal views only)"))
        table = table[table.frontal]
    return finish(name, nih_labels(table, uncertain), list(TO_NIH), excluded)


def nih_labels(table: pd.DataFrame, uncertain: Uncertain) -> pd.DataFrame:
    """``table`` with the NIH columns of its CheXpert-labeller columns (CheXpert's and
    MIMIC-CXR's): blank is 0 (not in the report), -1 follows ``uncertain``."""
    table = table.copy()
    for finding, column in TO_NIH.items():
        value = pd.to_numeric(table[column], errors="coerce").fillna(0.0)  # blank: not mentioned
        table[finding] = value.where(value != -1.0, UNCERTAIN_VALUE[uncertain])
    return table


def bad_labels(table: pd.DataFrame) -> pd.Series:
    """Per row, what is wrong with its first label that is not 1, 0, -1 or blank (NaN:
    nothing)."""
    reason = pd.Series(np.nan, index=table.index, dtype=object)
    for column in TO_NIH.values():
        values = pd.to_numeric(table[column], errors="coerce")
        wrong = (table[column].notna() & ~values.isin(_VALUES)) & reason.isna()
        reason[wrong] = f"{column} is " + table.loc[wrong, column].astype(str)
        reason[wrong] += ", not 1, 0, -1 or blank"
    return reason
