"""What every external data set's reader returns: one row per image in cxr's terms, the
NIH-14 findings it can score, and every row it left out with the reason.

A finding a data set has no label for is *unscored*: NaN in every row, never a
negative, so no metric counts it. A scored finding is 1, 0, or NaN where that
image's label is unknown (an uncertain CheXpert label under ``uncertain:
ignore``). Nothing read from a file disappears: a row is in ``images`` or in
``excluded``, with its row in the file (data rows counted from 1; a quoted field may
span several lines, as in PadChest's reports) and why.

Example::

    labels = read_chexpert(Path("CheXpert-v1.0/train.csv"))
    labels.scored                 # ('Atelectasis', 'Cardiomegaly', 'Effusion', ...)
    labels.images["Effusion"]     # 1.0, 0.0, or NaN (uncertain, ignored)
    labels.excluded.reason        # "lateral view (frontal views only)", ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from cxr.errors import InputError
from cxr.findings import FINDINGS

#: What an uncertain label (CheXpert's and MIMIC's -1) becomes: ``ignore`` leaves it out
#: of every metric (the CheXpert paper's U-Ignore), ``positive`` and ``negative`` count it.
Uncertain = Literal["ignore", "positive", "negative"]
UNCERTAIN_VALUE = {"ignore": np.nan, "positive": 1.0, "negative": 0.0}

#: The columns of ``ExternalLabels.images`` before the findings.
COLUMNS = ("source_row", "image", "patient_id", "view", "frontal")
#: A last column where the data set ships its own split (MIMIC-CXR's split file): each
#: image's ``train``, ``val`` or ``test``, kept when the set is trained on (``ingest.sources``).
OFFICIAL_SPLIT = "official_split"


#: The columns of ``ExternalLabels.boxes``: pixel corners in the image file's own frame.
BOX_COLUMNS = ("image", "finding", "x0", "y0", "x1", "y1", "reader")


@dataclass(frozen=True)
class ExternalLabels:
    """One data set's images (``COLUMNS`` then the 14 findings, float32), the findings it
    scores, the rows left out (``source_row``, ``image``, ``reason``), and the boxes of the
    data sets that have them (``BOX_COLUMNS``; empty otherwise)."""

    name: str
    images: pd.DataFrame
    scored: tuple[str, ...]
    excluded: pd.DataFrame
    boxes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(BOX_COLUMNS)))

    def __post_init__(self) -> None:
        missing = [c for c in (*COLUMNS, *FINDINGS) if c not in self.images.columns]
        if missing:
            raise ValueError(f"{self.name}: images lack columns {missing}")
        unscored = [f for f in FINDINGS if f not in self.scored]
        if self.images[unscored].notna().any().any():
            raise ValueError(f"{self.name}: an unscored finding has a label")
        values = self.images[list(self.scored)].to_numpy()
        if not np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():
            raise ValueError(f"{self.name}: a scored label is not 1, 0 or NaN")

    @property
    def patients(self) -> int:
        return int(self.images.patient_id.nunique())

    def positives(self) -> dict[str, int]:
        """Images with each scored finding present."""
        return {f: int((self.images[f] == 1).sum()) for f in self.scored}

    def exclusions(self) -> dict[str, int]:
        """How many rows were left out, per reason."""
        return {str(k): int(v) for k, v in self.excluded.reason.value_counts().items()}


def require_columns(table: pd.DataFrame, columns: list[str], source: Path) -> None:
    """Stop with a message naming the file and what it lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"{source}: lacks column(s) {', '.join(missing)}; is it the data set's own label "
            "file, unmodified?"
        )


def finish(
    name: str,
    images: pd.DataFrame,
    scored: list[str],
    excluded: list[pd.DataFrame],
    boxes: pd.DataFrame | None = None,
) -> ExternalLabels:
    """Add the unscored findings as NaN, order the columns, and gather the exclusions (and
    the boxes, if any)."""
    images = images.copy()
    for finding in FINDINGS:
        if finding not in scored:
            images[finding] = np.nan
        images[finding] = images[finding].astype(np.float32)
    frames = [e[["source_row", "image", "reason"]] for e in excluded if len(e)]
    out = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({"source_row": [], "image": [], "reason": []})
    )
    official = [OFFICIAL_SPLIT] if OFFICIAL_SPLIT in images.columns else []
    ordered = images[[*COLUMNS, *FINDINGS, *official]].reset_index(drop=True)
    scored_here = tuple(f for f in FINDINGS if f in scored)
    if boxes is None:
        return ExternalLabels(name, ordered, scored_here, out)
    boxes = boxes[list(BOX_COLUMNS)].reset_index(drop=True)
    return ExternalLabels(name, ordered, scored_here, out, boxes)


def left_out(table: pd.DataFrame, mask: pd.Series, reason: str | pd.Series) -> pd.DataFrame:
    """The rows of ``table`` under ``mask``, as exclusions with ``reason``."""
    rows = table.loc[mask, ["source_row", "image"]].copy()
    rows["reason"] = reason if isinstance(reason, str) else reason[mask]
    return rows
