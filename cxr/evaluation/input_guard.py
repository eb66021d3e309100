"""Fit the input guard (``cxr.guard``) on a model's preprocessed splits, as evaluate does.

The guard reads the training split (at most :data:`MAX_TRAIN_IMAGES` of its
rows, evenly spaced: the layout classifier and a shrunk covariance need no
more) and the validation split's features for its cut; test is never read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from cxr.batches import SplitArrays
from cxr.config import PreprocessConfig
from cxr.evaluation.predict import logits_of_arrays, predict_logits
from cxr.guard.distance import pooled_features
from cxr.guard.guard import Guard, Verdict, fit_guard
from cxr.guard.view import lateral_references
from cxr.models.contract import Classifier
from cxr.preprocess import prepare_arrays
from cxr.processed import open_split

MAX_TRAIN_IMAGES = 10_000
#: Lateral phantoms the layout classifier learns the lateral view from.
LATERAL_REFERENCES = 400


def logits_and_features(
    model: nn.Module,
    dataset: SplitArrays,
    device: torch.device,
    batch_size: int = 128,
    desc: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """``predict_logits`` and, from the same forward passes, the pooled features ``[N, D]``
    the classifier read (single process)."""
    with pooled_features(model) as captured:
        logits = predict_logits(model, dataset, device, batch_size, desc=desc, dtype=dtype)
    return logits, np.concatenate(captured) if captured else np.zeros((0, 0), np.float32)


def fit_split_guard(
    model: Classifier,
    processed: str | Path,
    preprocess: PreprocessConfig,
    val_features: np.ndarray,
    false_flag: float,
    device: torch.device,
    batch_size: int = 128,
    dtype: torch.dtype = torch.float32,
) -> Guard:
    """The guard of ``model``: fitted on ``processed``'s training split, its cut on
    ``val_features`` (the validation split's pooled features)."""
    array, index = open_split(processed, "train")
    rows = np.unique(np.linspace(0, len(array) - 1, min(len(array), MAX_TRAIN_IMAGES)).astype(int))
    images = np.asarray(array[rows])
    detail = None
    if model.uses_detail:
        detail = np.asarray(np.load(Path(processed) / "train_detail.npy", mmap_mode="r")[rows])
    with pooled_features(model) as captured:
        logits_of_arrays(model, images, device, batch_size, detail, dtype)
    with tempfile.TemporaryDirectory() as folder:
        laterals = lateral_references(
            LATERAL_REFERENCES, max(128, 2 * preprocess.size), _as_file(preprocess, folder)
        )
    patients = index["patient_id"].to_numpy()[rows]
    return fit_guard(images, np.concatenate(captured), patients, val_features, laterals, false_flag)


def guard_metrics(guard: Guard, verdicts: dict[str, Verdict]) -> dict:
    """What the reports say of the guard: its cut, where it was fitted and chosen, and per
    split how many images it flags, for which reasons."""
    return {
        "method": "model-free checks, then a layout classifier, then the Mahalanobis "
        "distance of the pooled features (docs/guard.md)",
        "distance_cut": round(guard.cut, 3),
        **{k: v for k, v in guard.record.items() if k != "format"},
        **{split: v.summary() for split, v in verdicts.items()},
    }


def _as_file(preprocess: PreprocessConfig, folder: str) -> Callable[[np.ndarray], np.ndarray]:
    """A phantom's preprocessed array, through the very decode and preprocessing of any
    file: written as a PNG into ``folder``, then read back."""

    def prepare(gray: np.ndarray) -> np.ndarray:
        path = Path(folder) / "lateral.png"
        cv2.imwrite(str(path), gray)
        return prepare_arrays(path, preprocess)[0][0]

    return prepare
