"""What a model reads of each image, carried as one object: :class:`Views`.

A model reads ``input_views`` arrays of every film (``cxr.models.contract``):
the array at ``preprocess.size`` and, for the dual path whose local path crops
from a sharper copy, the *detail* array of the same film at
``preprocess.detail_size`` (a multiple of the size, from the same decode). The
second one is the only way detail enters cxr: preprocess writes it here named,
batches and the predictor read it through here, and everything between them
and the model (the forward pass, GradCAM, the input guard) hands the model
``*views`` without knowing what the second array is.

>>> v = Views(np.zeros((2, 4, 4), np.uint8), np.zeros((2, 8, 8), np.uint8))
>>> [a.shape for a in v.take(np.array([1])).arrays], v.sides
([(1, 4, 4), (1, 8, 8)], (4, 8))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxr.errors import InputError
from cxr.processed import REDO, check_square, load_array, open_split

#: Each view's name, in ``Views.arrays`` order (an exported graph's input names).
VIEW_NAMES = ("image", "detail")
#: Beside ``<split>.npy``, the file of each further view, in ``Views.arrays`` order.
_FILE_SUFFIXES = ("", "_detail")


@dataclass(frozen=True)
class Views:
    """Images as the model takes them: the arrays and, for a model that reads it, their
    detail (both as preprocess makes them, from one decode; a peer's: its own input)."""

    images: np.ndarray  # uint8 (N, S, S); a peer's float32 (N, C, S, S)
    detail: np.ndarray | None = None  # uint8 (N, D, D), D = k * S

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """Every array, in the order the model's ``forward`` takes them."""
        return (self.images,) if self.detail is None else (self.images, self.detail)

    @property
    def sides(self) -> tuple[int, ...]:
        return tuple(a.shape[-1] for a in self.arrays)

    def __len__(self) -> int:
        return len(self.images)

    def take(self, rows: np.ndarray | slice) -> Views:
        return Views(*(a[rows] for a in self.arrays))

    @staticmethod
    def stack(parts: list[Views]) -> Views:
        return Views(
            *(np.concatenate(column) for column in zip(*(p.arrays for p in parts), strict=True))
        )


def view_files(npy_path: str | Path, count: int) -> list[Path]:
    """The files of a split's first ``count`` views: ``<split>.npy``, then
    ``<split>_detail.npy`` beside it."""
    npy_path = Path(npy_path)
    if count > len(_FILE_SUFFIXES):
        raise ValueError(f"{count} views; cxr writes at most {len(_FILE_SUFFIXES)}")
    return [npy_path.with_name(f"{npy_path.stem}{s}.npy") for s in _FILE_SUFFIXES[:count]]


def open_views(processed_dir: str | Path, split: str, count: int = 1) -> tuple[Views, pd.DataFrame]:
    """A preprocessed split's first ``count`` views (read-only memmaps) and its index, each
    checked against the others (``cxr.processed.open_split``)."""
    array, index = open_split(processed_dir, split)
    extra = _open_extra_views(processed_dir, split, len(array), array.shape[1], count)
    return Views(array, *extra), index


def _open_extra_views(
    processed_dir: str | Path, split: str, rows: int, size: int, count: int
) -> list[np.ndarray]:
    """A split's views after the first, as read-only memmaps checked to hold ``rows`` rows
    at a side that is a multiple above the first's ``size``; an :class:`InputError`
    naming the file when preprocess wrote none or they disagree."""
    extra = []
    for path in view_files(Path(processed_dir) / f"{split}.npy", count)[1:]:
        if not path.is_file():
            raise InputError(
                f"{path}: missing, and the model looks at detail: set preprocess.detail_size "
                "and preprocess again (`dvc repro preprocess`)"
            )
        array = load_array(path)
        check_square(path, array)
        side = array.shape[1]
        if len(array) != rows or side <= size or side % size:
            raise InputError(
                f"{path} holds {len(array)} rows of {side} px, but {split}.npy has {rows} rows "
                f"of {size} px (the detail side must be a multiple above it); {REDO}"
            )
        extra.append(array)
    return extra


def written_views(processed_dir: str | Path, split: str) -> list[Path]:
    """The view files preprocess wrote for ``split`` (the first always, the detail where
    ``preprocess.detail_size`` asked for it)."""
    paths = view_files(Path(processed_dir) / f"{split}.npy", len(_FILE_SUFFIXES))
    return [paths[0], *(p for p in paths[1:] if p.is_file())]
