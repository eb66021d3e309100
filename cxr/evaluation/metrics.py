"""Per-class metrics of multi-label probabilities, as the field reports them (scikit-learn).

A class whose labels are all 0 or all 1 in a split has no AUROC: it is NaN
with a warning naming the class, and means skip it (and say how many they
averaged), rather than a crash or a silent NaN mean.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

#: FPR and recall grids of the curve tables that DVC plots draw.
CURVE_GRID = np.round(np.linspace(0.0, 1.0, 101), 4)


def has_both_labels(y: np.ndarray) -> np.ndarray:
    """Whether labels ``[N]`` (or each column of ``[N, C]``) hold a positive and a negative:
    what a class needs to be scored, thresholded or calibrated. NaN (an external set's
    unknown label) is neither."""
    y = np.asarray(y, dtype=np.float64)
    positives = (y == 1).sum(axis=0)
    return (positives > 0) & (positives < (~np.isnan(y)).sum(axis=0))


def label_gaps(y: np.ndarray, names: Sequence[str]) -> dict[str, list[str]]:
    """Classes a split cannot teach (no positive) or score (no negative) among its known
    labels (NaN: a source that does not label the finding)."""
    y = np.asarray(y, dtype=np.float64)
    positives, known = (y == 1).sum(axis=0), (~np.isnan(y)).sum(axis=0)
    return {
        "no_positives": [n for n, k in zip(names, positives, strict=True) if k == 0],
        "no_negatives": [n for n, k, m in zip(names, positives, known, strict=True) if k == m],
    }


def label_gap_warnings(gaps: dict[str, dict[str, list[str]]]) -> list[str]:
    """What the training stage warns of the train and val splits' :func:`label_gaps`."""
    consequence = {
        "train": "the model has nothing to learn from",
        "val": "no validation AUROC (early stopping uses the others), "
        "and evaluate's threshold falls back to 0.5",
    }
    return [
        f"{split} split: {', '.join(names)}: {kind.replace('_', ' ')}; {consequence[split]}"
        for split, kinds in gaps.items()
        for kind, names in kinds.items()
        if names
    ]


def per_class(metric, y: np.ndarray, p: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """``metric(y_k, p_k)`` for every class k on its known labels (NaN: unknown); NaN (with a
    warning) where undefined, and NaN where ``p_k`` is (a model without that output)."""
    out = np.full(y.shape[1], np.nan)
    for k in range(y.shape[1]):
        if np.isnan(np.asarray(p[:, k], dtype=np.float64)).any():
            continue  # a model with no output for the class (a peer's): unscored, silently
        known = ~np.isnan(np.asarray(y[:, k], dtype=np.float64))  # all, but on external sets
        if has_both_labels(y[known, k]):
            out[k] = metric(y[known, k], p[known, k])
        else:
            warnings.warn(
                f"{names[k]}: only one label value in this split; no {metric.__name__}",
                stacklevel=2,
            )
    return out


def auroc(y: np.ndarray, p: np.ndarray, names: Sequence[str]) -> np.ndarray:
    return per_class(roc_auc_score, y, p, names)


def auprc(y: np.ndarray, p: np.ndarray, names: Sequence[str]) -> np.ndarray:
    return per_class(average_precision_score, y, p, names)


def nan_mean(values: np.ndarray) -> float:
    """Mean of the defined values (NaN if none)."""
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def rounded(v) -> float | None:
    """A JSON-ready number: rounded to 6 places, ``None`` where undefined."""
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None


def confusion_table(
    y: np.ndarray, p: np.ndarray, thresholds: np.ndarray, names: Sequence[str]
) -> pd.DataFrame:
    """Counts and rates per class at the given thresholds (predicted positive: p >= threshold),
    of the known labels (NaN: unknown, counted in no cell)."""
    pred = p >= thresholds[None, :]
    yb, negative = y == 1, y == 0
    tp = (pred & yb).sum(0)
    fp = (pred & negative).sum(0)
    fn = (~pred & yb).sum(0)
    tn = (~pred & negative).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame(
            {
                "finding": list(names),
                "threshold": thresholds,
                "positives": yb.sum(0),
                "TP": tp,
                "FP": fp,
                "FN": fn,
                "TN": tn,
                "sensitivity": tp / (tp + fn),
                "specificity": tn / (tn + fp),
                "PPV": tp / (tp + fp),
                "F1": 2 * tp / (2 * tp + fp + fn),
            }
        )
    return table


def roc_table(y: np.ndarray, p: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """TPR of every class interpolated on :data:`CURVE_GRID` FPRs: one column per class."""
    out = {"fpr": CURVE_GRID}
    for k, name in enumerate(names):
        known = ~np.isnan(np.asarray(y[:, k], dtype=np.float64))
        if has_both_labels(y[known, k]):
            fpr, tpr, _ = roc_curve(y[known, k], p[known, k])
            out[name] = np.round(np.interp(CURVE_GRID, fpr, tpr), 5)
    return pd.DataFrame(out)


def interpolated_precision(precision: np.ndarray, recall: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Best precision at any recall of at least ``at`` (the interpolated PR curve).

    It never rises with recall. ``precision`` and ``recall`` are the points of a
    curve in any order, as :func:`sklearn.metrics.precision_recall_curve` returns
    them; ``at`` must not exceed the largest recall.

    Example: labels ``[1, 0, 1, 0]`` scored ``[0.9, 0.8, 0.7, 0.1]`` give the
    points (recall, precision) (0.5, 1), (0.5, 1/2), (1, 2/3), (1, 1/2) and
    (0, 1); the interpolated precision is 1 up to recall 0.5 and 2/3 above it.
    """
    order = np.argsort(recall, kind="stable")
    r, p = recall[order], precision[order]
    best_from = np.maximum.accumulate(p[::-1])[::-1]  # best_from[i] = max(p[i:]), recall ascending
    return best_from[np.searchsorted(r, at, side="left")]


def pr_table(y: np.ndarray, p: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """Interpolated precision (:func:`interpolated_precision`) on :data:`CURVE_GRID` recalls."""
    out = {"recall": CURVE_GRID}
    for k, name in enumerate(names):
        known = ~np.isnan(np.asarray(y[:, k], dtype=np.float64))
        if has_both_labels(y[known, k]):
            precision, recall, _ = precision_recall_curve(y[known, k], p[known, k])
            out[name] = np.round(interpolated_precision(precision, recall, CURVE_GRID), 5)
    return pd.DataFrame(out)
