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

from cxr.batches import SplitArrays
from cxr.config import PreprocessConfig
from cxr.evaluation.predict import ForwardPass
from cxr.guard.distance import pooled_features
from cxr.guard.guard import Guard, Verdict, fit_guard
from cxr.guard.view import lateral_references
from cxr.preprocess import prepare_arrays
from cxr.views import Views, open_views

MAX_TRAIN_IMAGES = 10_000
#: Lateral phantoms the layout classifier learns the lateral view from.
LATERAL_REFERENCES = 400


def logits_and_features(
    run: ForwardPass, dataset: SplitArrays, desc: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``run.split_logits`` and, from the same forward passes, the pooled features ``[N, D]``
    the classifier read (single process)."""
    with pooled_features(run.model) as captured:
        logits = run.split_logits(dataset, desc=desc)
    return logits, np.concatenate(captured) if captured else np.zeros((0, 0), np.float32)


def fit_split_guard(
    run: ForwardPass,
    processed: str | Path,
    preprocess: PreprocessConfig,
    val_features: np.ndarray,
    false_flag: float,
) -> Guard:
    """The guard of ``run.model``: fitted on ``processed``'s training split, its cut on
    ``val_features`` (the validation split's pooled features)."""
    views, index = open_views(processed, "train", run.model.input_views)
    n = len(views)
    rows = np.unique(np.linspace(0, n - 1, min(n, MAX_TRAIN_IMAGES)).astype(int))
    chosen = Views(*(np.asarray(a[rows]) for a in views.arrays))
    with pooled_features(run.model) as captured:
        run.logits(chosen)
    with tempfile.TemporaryDirectory() as folder:
        laterals = lateral_references(
            LATERAL_REFERENCES, max(128, 2 * preprocess.size), _as_file(preprocess, folder)
        )
    patients = index["patient_id"].to_numpy()[rows]
    return fit_guard(
        chosen.images, np.concatenate(captured), patients, val_features, laterals, false_flag
    )


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
