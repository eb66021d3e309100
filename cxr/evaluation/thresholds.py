"""Decision thresholds chosen on validation: a cut between two validation scores, chosen on
the raw logits and mapped through the calibration to the probability a case is called on.

A threshold that equals a case's score is a tie waiting to happen, and one that
equals 1.0 (a saturated calibration's) is a score no case can exceed. So the
policy picks which validation cases to call positive on the raw logits (no ties
that calibration's rounding made), and the threshold is the midpoint between the
lowest logit called positive and the next lower one: it calls exactly those
validation cases, and it lies strictly between two real scores. Its calibrated
probability is what ``thresholds.json`` stores (a case is positive when its
calibrated probability is at least the threshold), always inside (0, 1).

Example: validation logits ``[-2, -1, 1, 2]`` with labels ``[0, 0, 1, 1]``:
``max_f1`` calls the two positives, and the threshold is the logit 0, between
-1 and 1 (probability 0.5 uncalibrated), not the logit 1 of the lowest positive.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from cxr.evaluation.calibration import Calibration
from cxr.evaluation.metrics import has_both_labels

#: The threshold of a class that validation cannot choose for (one label value).
DEFAULT = 0.5
POLICIES = ("max_f1", "youden", "sensitivity")


def lowest_called(y: np.ndarray, scores: np.ndarray, policy: str, target: float = 0.9) -> float:
    """The lowest validation score that ``policy`` calls positive (``score >= it``).

    ``max_f1``: maximising F1; ``youden``: maximising sensitivity + specificity - 1;
    ``sensitivity``: the highest cut whose sensitivity reaches ``target``.
    """
    if policy == "max_f1":
        precision, recall, cuts = precision_recall_curve(y, scores)
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        return float(cuts[int(np.argmax(f1[:-1]))])
    if policy not in POLICIES:
        raise ValueError(f"unknown threshold policy {policy!r}: use {', '.join(POLICIES)}")
    fpr, tpr, cuts = roc_curve(y, scores)
    finite = np.isfinite(cuts)
    fpr, tpr, cuts = fpr[finite], tpr[finite], cuts[finite]
    if policy == "youden":
        return float(cuts[int(np.argmax(tpr - fpr))])
    ok = np.flatnonzero(tpr >= target)
    return float(cuts[ok[0]]) if len(ok) else float(cuts[-1])


def choose_threshold(y: np.ndarray, scores: np.ndarray, policy: str, target: float = 0.9) -> float:
    """A cut on ``scores`` (raw logits) calling what :func:`lowest_called` calls: midway to
    the next lower score, or one below the lowest score where everything is called."""
    scores = np.asarray(scores, dtype=np.float64)
    cut = lowest_called(y, scores, policy, target)
    below = scores[scores < cut]
    return float((cut + below.max()) / 2 if len(below) else cut - 1.0)


def fit_thresholds(
    y: np.ndarray,
    logits: np.ndarray,
    calibration: Calibration,
    names: Sequence[str],
    policy: str,
    target: float = 0.9,
) -> np.ndarray:
    """Per class the calibrated probability of its validation cut ``[C]``, inside (0, 1):
    :data:`DEFAULT` where validation has one label value, NaN where the logits are (a
    model without that output)."""
    logits = np.asarray(logits, dtype=np.float64)
    scored = ~np.isnan(logits).any(axis=0)
    choosable = scored & has_both_labels(y)
    cuts = np.full(len(names), np.nan)
    known = ~np.isnan(np.asarray(y, dtype=np.float64))  # NaN: a source without the label
    for k in np.flatnonzero(choosable):
        m = known[:, k]
        cuts[k] = choose_threshold(y[m, k], logits[m, k], policy, target)
    out = calibration.apply(cuts[None])[0]  # NaN stays NaN
    out[scored & ~choosable] = DEFAULT
    for k in np.flatnonzero(choosable & ((out <= 0.0) | (out >= 1.0))):
        # The calibration rounds the cut to 0 or 1, which no case can pass.
        warnings.warn(
            f"{names[k]}: its threshold's probability rounds to {out[k]} (calibration slope "
            f"{calibration.slope[k]:.3g}); kept just inside (0, 1)",
            stacklevel=2,
        )
        out[k] = np.clip(out[k], np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0))
    return out
