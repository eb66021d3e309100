"""Read a preprocessed split (``data/processed/<split>.npy`` + ``.parquet``), checked
(a model's further views of the same rows: ``cxr.views``).

:mod:`cxr.preprocess` writes the format; training, evaluation and explanation
read it through here, so a file that rotted, was truncated or no longer
matches its index stops the run with the file named instead of a traceback
or rows silently misread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.errors import InputError

REDO = "preprocess again (`dvc repro preprocess`) or restore it (`dvc checkout`)"


def open_split(processed_dir: str | Path, split: str) -> tuple[np.ndarray, pd.DataFrame]:
    """A preprocessed split: its read-only memmap and its index, checked against each other.

    A missing, damaged or truncated file, or an array and index that disagree,
    is an :class:`InputError` naming the file, never a traceback or a silent
    misread of rows.
    """
    folder = Path(processed_dir)
    npy, parquet = folder / f"{split}.npy", folder / f"{split}.parquet"
    for path in (npy, parquet):
        if not path.is_file():
            raise InputError(f"{path}: missing; {REDO}")
    array = load_array(npy)
    try:
        index = pd.read_parquet(parquet)
    except (ValueError, OSError) as err:  # pyarrow's errors derive from these
        raise InputError(f"{parquet}: damaged or truncated ({err}); {REDO}") from None
    check_square(npy, array)
    rows = index["row"].to_numpy() if "row" in index else None
    if len(array) != len(index) or rows is None or not np.array_equal(rows, np.arange(len(index))):
        raise InputError(
            f"{npy} has {len(array)} rows but {parquet} describes {len(index)} "
            f"(or its row column is not 0..n-1); {REDO}"
        )
    return array, index


def load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: damaged or truncated ({err}); {REDO}") from None


def check_square(path: Path, array: np.ndarray) -> None:
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[1] != array.shape[2]:
        raise InputError(
            f"{path}: expected uint8 rows of [size, size], found {array.dtype} {array.shape}; "
            f"{REDO}"
        )
