"""Read ``BBox_List_2017.csv`` (or a file in its format) into a normalised box table.

The NIH header splits ``Bbox [x,y,w,h]`` at its commas and ends with three
empty fields, while data rows have six fields; coordinates are in the pixel
frame of the original image (the label file's ``OriginalImage`` size).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from cxr.errors import InputError
from cxr.findings import UnknownFindingError, canonical_finding
from cxr.nih.text import TextFileError, first_file, read_text

BOX_FILE_NAMES = ("BBox_List_2017.csv", "BBox_List_2017.csv.gz")
BOX_COLUMNS = ("image_id", "finding", "x", "y", "w", "h")
_HEADER = ("Image Index", "Finding Label", "Bbox [x", "y", "w", "h]")


class BoxFileError(InputError):
    """The box file cannot be used; the message names the file, line and value."""


def find_box_file(raw_dir: str | Path) -> Path | None:
    """The box list of an NIH-layout folder, or ``None`` when it has none."""
    return first_file(raw_dir, BOX_FILE_NAMES)


def empty_boxes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": pd.Series([], dtype=str),
            "finding": pd.Series([], dtype=str),
            **{c: pd.Series([], dtype=np.float64) for c in "xywh"},
        }
    )


def read_box_file(path: str | Path) -> pd.DataFrame:
    """Parse a box list into :data:`BOX_COLUMNS` with canonical finding names."""
    path = Path(path)
    try:
        text = read_text(path)[2]
    except TextFileError as err:
        raise BoxFileError(str(err)) from None
    header, _, body = text.partition("\n")
    fields = [f.strip() for f in header.rstrip("\r").split(",")]
    if tuple(fields[:6]) != _HEADER or any(fields[6:]):
        raise BoxFileError(
            f"{path}: line 1: header {header.strip()!r} is not the NIH BBox_List header"
        )
    if not body.strip():
        return empty_boxes()
    # Rows have six fields (NIH) or nine (re-saved with the header's trailing empties).
    table = pd.read_csv(io.StringIO(body), header=None, dtype=str, keep_default_na=False)
    if table.shape[1] < 6 or (table.iloc[:, 6:] != "").any().any():
        raise BoxFileError(f"{path}: expected 6 fields per row (image, finding, x, y, w, h)")
    lines = np.arange(len(table)) + 2
    frame = pd.DataFrame({"image_id": table[0].str.strip().astype(str)})
    findings = []
    for i, name in enumerate(table[1]):
        try:
            findings.append(canonical_finding(name))
        except UnknownFindingError as err:
            raise BoxFileError(f"{path}: line {lines[i]}: {err}") from None
    frame["finding"] = pd.Series(findings, dtype=str)
    for j, c in enumerate("xywh", start=2):
        values = pd.to_numeric(table[j], errors="coerce")
        bad = values.isna() | ~np.isfinite(values) | ((values <= 0) if c in "wh" else (values < 0))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise BoxFileError(
                f"{path}: line {lines[i]} (image {frame.image_id.iloc[i]!r}): bad box {c} "
                f"{table[j].iloc[i]!r}; expected a number {'> 0' if c in 'wh' else '>= 0'}"
            )
        frame[c] = values.to_numpy(dtype=np.float64)
    return frame
