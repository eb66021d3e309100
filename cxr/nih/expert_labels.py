"""Read Google's 2019 radiologist labels for NIH images (``google2019_nih-chest-xray-labels.csv``).

Majkowska et al. (Radiology 2019) had three radiologists adjudicate four
findings on 4,376 NIH images: Fracture, Pneumothorax, Airspace opacity and
Nodule or mass, each ``YES``/``NO``. Its ``test`` images (1,962) all lie in
NIH's official test list; its ``val`` images (2,414) all lie in ``train_val``,
so a model trained on ``train_val`` has seen them: they are refused here
rather than reported as a held-out score.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from cxr.errors import InputError
from cxr.nih.text import TextFileError, first_file, read_text

EXPERT_FILE_NAMES = (
    "google2019_nih-chest-xray-labels.csv",
    "google2019_nih-chest-xray-labels.csv.gz",
)
#: The adjudicated findings, in the file's spelling.
EXPERT_FINDINGS = ("Fracture", "Pneumothorax", "Airspace opacity", "Nodule or mass")
EXPERT_COLUMNS = ("image_id", "patient_id", "set_id", *EXPERT_FINDINGS)


class ExpertLabelError(InputError):
    """The expert label file cannot be used; the message names the file, line and value."""


def find_expert_file(raw_dir: str | Path) -> Path | None:
    """The Google 2019 label file of an NIH-layout folder, or ``None``."""
    return first_file(raw_dir, EXPERT_FILE_NAMES)


def empty_expert_labels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": pd.Series([], dtype=str),
            "patient_id": pd.Series([], dtype=np.int64),
            "set_id": pd.Series([], dtype=str),
            **{f: pd.Series([], dtype=np.uint8) for f in EXPERT_FINDINGS},
        }
    )


def read_expert_labels(path: str | Path, set_id: str = "test") -> pd.DataFrame:
    """The rows of one ``Set Id`` as :data:`EXPERT_COLUMNS`, findings as 0/1.

    ``set_id="val"`` is refused: those images are in NIH's ``train_val`` list.
    """
    path = Path(path)
    if set_id == "val":
        raise ExpertLabelError(
            f"{path}: its 'val' images are all in NIH's train_val list, which the model "
            "trained on; a score on them would not be held out. Use set_id 'test'."
        )
    if set_id != "test":
        raise ExpertLabelError(f"{path}: unknown Set Id {set_id!r}; the file has 'test' and 'val'")
    try:
        text = read_text(path)[2]
    except TextFileError as err:
        raise ExpertLabelError(str(err)) from None
    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    needed = ("Image Index", "Patient ID", "Set Id", *EXPERT_FINDINGS)
    absent = [c for c in needed if c not in table.columns]
    if absent:
        raise ExpertLabelError(f"{path}: line 1: columns {absent} missing; is this the 2019 file?")

    def fail_at(bad: pd.Series, column: str, expected: str) -> None:
        """Raise naming the first bad row's line (the header is line 1) and value."""
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise ExpertLabelError(
                f"{path}: line {i + 2}: {column} {table[column].iloc[i]!r}; expected {expected}"
            )

    sets = table["Set Id"].str.strip()
    fail_at(~sets.isin(("test", "val")), "Set Id", "test or val")
    duplicated = table["Image Index"].duplicated(keep=False)
    if duplicated.any():
        names = sorted(set(table["Image Index"][duplicated]))
        raise ExpertLabelError(f"{path}: images listed twice: {names[:10]}")
    out = pd.DataFrame(
        {
            "image_id": table["Image Index"].str.strip(),
            "patient_id": pd.to_numeric(table["Patient ID"], errors="coerce"),
            "set_id": sets,
        }
    )
    fail_at(out.patient_id.isna(), "Patient ID", "a number")
    out["patient_id"] = out.patient_id.astype(np.int64)
    for finding in EXPERT_FINDINGS:
        value = table[finding].str.strip().str.upper()
        fail_at(~value.isin(("YES", "NO")), finding, "YES or NO")
        out[finding] = (value == "YES").astype(np.uint8)
    return out[out.set_id == set_id].reset_index(drop=True)
