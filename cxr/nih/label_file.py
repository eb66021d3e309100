"""Read an NIH ``Data_Entry_2017*.csv`` label file into a normalised, validated table.

Two variants exist and both are accepted, plain or gzipped:

* ``Data_Entry_2017_v2020.csv``: 11 fields per row, integer ages.
* the original ``Data_Entry_2017.csv``: 12 fields (a trailing empty one) and
  ages written ``058Y``, ``011M`` or ``005D``.

In both, the header line splits ``OriginalImage[Width,Height]`` and
``OriginalImagePixelSpacing[x,y]`` at their inner commas, so the header is
matched as text rather than used for column names.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxr.errors import InputError
from cxr.findings import FINDINGS, UnknownFindingError, parse_finding_labels
from cxr.nih.text import TextFileError, first_file, read_text

#: Names of the columns of the normalised metadata table, in order (labels follow).
META_COLUMNS = (
    "image_id",
    "patient_id",
    "follow_up",
    "age",
    "sex",
    "view",
    "orig_width",
    "orig_height",
    "spacing_x",
    "spacing_y",
)
#: Header fields of the label file as NIH writes them (after splitting at commas).
NIH_HEADER = (
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
    "OriginalImage[Width",
    "Height]",
    "OriginalImagePixelSpacing[x",
    "y]",
)
#: File names searched for in a raw folder, preferred first.
LABEL_FILE_NAMES = (
    "Data_Entry_2017_v2020.csv",
    "Data_Entry_2017_v2020.csv.gz",
    "Data_Entry_2017.csv",
    "Data_Entry_2017.csv.gz",
)
_AGE = re.compile(r"^(\d{1,3})([YMD]?)$")
_AGE_UNIT_YEARS = {"": 1.0, "Y": 1.0, "M": 1.0 / 12.0, "D": 1.0 / 365.25}
_MAX_REPORTED = 5


class LabelFileError(InputError):
    """The label file cannot be used; the message names the file, line and value."""


@dataclass(frozen=True)
class LabelTable:
    """A parsed label file: the normalised table and where it came from."""

    frame: pd.DataFrame  # META_COLUMNS then the 14 FINDINGS columns (uint8)
    name: str
    sha256: str  # of the file as stored (gzipped or not)
    content_sha256: str  # of the decompressed text: equal for a file and its .gz
    variant: str  # "v2020" or "2017"


def find_label_file(raw_dir: str | Path) -> Path:
    """Return the label file of an NIH-layout folder, preferring the v2020 one."""
    found = first_file(raw_dir, LABEL_FILE_NAMES)
    if found is not None:
        return found
    raise LabelFileError(
        f"no label file in {raw_dir}: expected one of {', '.join(LABEL_FILE_NAMES)} "
        "(download Data_Entry_2017_v2020.csv from the NIH ChestX-ray14 page)"
    )


def read_label_file(path: str | Path) -> LabelTable:
    """Parse and validate a label file; raise :class:`LabelFileError` naming the bad line."""
    path = Path(path)
    try:
        raw, data, text = read_text(path)
    except TextFileError as err:
        raise LabelFileError(str(err)) from None
    frame, variant = _parse(text, path)
    return LabelTable(
        frame=frame,
        name=path.name,
        sha256=hashlib.sha256(raw).hexdigest(),
        content_sha256=hashlib.sha256(data).hexdigest(),
        variant=variant,
    )


def _table(text: str, path: Path) -> tuple[pd.DataFrame, int]:
    """The data rows as text columns, after the header check, and the header's field count."""
    header, _, body = text.partition("\n")
    fields = [f.strip() for f in header.rstrip("\r").split(",")]
    if tuple(fields[: len(NIH_HEADER)]) != NIH_HEADER or any(fields[len(NIH_HEADER) :]):
        raise LabelFileError(
            f"{path}: line 1: header {header.strip()!r} is not the NIH Data_Entry header "
            f"{','.join(NIH_HEADER)!r} (with an optional trailing empty field)"
        )
    if not body.strip():
        raise LabelFileError(f"{path}: no data rows after the header")
    n_fields = len(fields)
    try:
        table = pd.read_csv(
            io.StringIO(body),
            header=None,
            names=range(n_fields),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
            engine="c",
        )
    except pd.errors.ParserError as err:
        # pandas counts lines of the body; the message keeps its wording.
        raise LabelFileError(
            f"{path}: {err} (line numbers count from the line after the header)"
        ) from None
    return table, n_fields


def _image_ids(table: pd.DataFrame, path: Path, lines: np.ndarray) -> pd.Series:
    """The Image Index column: bare, non-empty, unique file names."""
    image_id = table[0].str.strip()
    _fail_where(image_id == "", path, lines, image_id, "Image Index", image_id, "a file name")
    _fail_where(
        image_id.str.contains(r"[/\\]", regex=True),
        path,
        lines,
        image_id,
        "Image Index",
        image_id,
        "a bare file name without folders",
    )
    dup = image_id.duplicated(keep=False)
    if dup.any():
        first = image_id[dup].iloc[0]
        at = ", ".join(str(x) for x in lines[(image_id == first).to_numpy()])
        raise LabelFileError(
            f"{path}: Image Index {first!r} appears more than once (lines {at}); "
            f"{int(dup.sum())} rows share an Image Index with another row. Remove the duplicates."
        )
    return image_id


def _parse(text: str, path: Path) -> tuple[pd.DataFrame, str]:
    table, n_fields = _table(text, path)
    lines = np.arange(len(table)) + 2  # 1-based file line numbers of the data rows
    # A short row comes back with empty trailing fields: the numeric checks name it.
    if n_fields > len(NIH_HEADER):
        extra = table[len(NIH_HEADER)].str.strip() != ""
        _fail_where(extra, path, lines, table[0], "trailing field", table[len(NIH_HEADER)], "empty")

    image_id = _image_ids(table, path, lines)
    try:
        labels = parse_finding_labels(
            table[1].tolist(), lambda i: f"{path}: line {lines[i]}: image {image_id.iloc[i]!r}"
        )
    except UnknownFindingError as err:
        raise LabelFileError(str(err)) from None

    age_text = table[4].str.strip()
    parts = age_text.str.extract(_AGE)
    _fail_where(
        parts[0].isna(),
        path,
        lines,
        image_id,
        "Patient Age",
        age_text,
        "whole years such as 58, or 058Y / 011M / 005D",
    )
    age = parts[0].astype(float) * parts[1].map(_AGE_UNIT_YEARS).astype(float)

    sex = table[5].str.strip()
    _fail_where(~sex.isin(["M", "F"]), path, lines, image_id, "Patient Gender", sex, "M or F")
    view = table[6].str.strip()
    _fail_where(~view.isin(["PA", "AP"]), path, lines, image_id, "View Position", view, "PA or AP")

    frame = pd.DataFrame(
        {
            "image_id": image_id.astype(str),
            "patient_id": _integers(table[3], path, lines, image_id, "Patient ID", minimum=0),
            "follow_up": _integers(table[2], path, lines, image_id, "Follow-up #", minimum=0),
            "age": age.to_numpy(dtype=np.float64),
            "sex": sex.astype(str),
            "view": view.astype(str),
            "orig_width": _integers(
                table[7], path, lines, image_id, "OriginalImage Width", minimum=1
            ),
            "orig_height": _integers(
                table[8], path, lines, image_id, "OriginalImage Height", minimum=1
            ),
            "spacing_x": _positive_floats(
                table[9], path, lines, image_id, "OriginalImagePixelSpacing x"
            ),
            "spacing_y": _positive_floats(
                table[10], path, lines, image_id, "OriginalImagePixelSpacing y"
            ),
        }
    )
    for j, name in enumerate(FINDINGS):
        frame[name] = labels[:, j]
    variant = "2017" if n_fields > len(NIH_HEADER) else "v2020"
    return frame, variant


def _integers(col: pd.Series, path, lines, ids, what: str, minimum: int) -> np.ndarray:
    values = pd.to_numeric(col.str.strip(), errors="coerce")
    bad = values.isna() | (values != values.round()) | (values < minimum)
    _fail_where(bad, path, lines, ids, what, col, f"an integer >= {minimum}")
    return values.to_numpy(dtype=np.int64)


def _positive_floats(col: pd.Series, path, lines, ids, what: str) -> np.ndarray:
    values = pd.to_numeric(col.str.strip(), errors="coerce")
    bad = values.isna() | ~(values > 0) | ~np.isfinite(values)
    _fail_where(bad, path, lines, ids, what, col, "a positive number")
    return values.to_numpy(dtype=np.float64)


def _fail_where(
    bad: pd.Series, path, lines, ids, what: str, values: pd.Series, expected: str
) -> None:
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return
    where = np.flatnonzero(bad)
    shown = "; ".join(
        f"line {lines[i]} (image {ids.iloc[i]!r}): {values.iloc[i]!r}"
        for i in where[:_MAX_REPORTED]
    )
    more = f" and {len(where) - _MAX_REPORTED} more" if len(where) > _MAX_REPORTED else ""
    raise LabelFileError(f"{path}: bad '{what}', expected {expected}: {shown}{more}")
