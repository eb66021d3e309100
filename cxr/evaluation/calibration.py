"""Calibration of per-class probabilities: calibration error, reliability tables, temperature.

ECE follows Guo et al. (ICML 2017) per class: probabilities fall into equal-width
bins and ECE is the image-weighted mean gap between each bin's mean probability
and its observed frequency of positives. For a binary finding this is the
calibration of the class probability itself, not of the top-label confidence.

Temperature scaling (Guo et al.) divides each class's logit by one positive
number fitted on *validation* by minimising the binary cross-entropy. It
changes no ranking, so AUROC and AUPRC stay exactly the same; thresholds are
chosen after it, on the calibrated validation probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

#: Equal-width bins of the reliability diagrams and ECE.
BINS = 10


def _bin_of(p: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((np.asarray(p) * bins).astype(int), bins - 1)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = BINS) -> float:
    """Image-weighted mean |mean probability - positive rate| over equal-width bins of one class."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if not len(p):
        return float("nan")
    b = _bin_of(p, bins)
    count = np.bincount(b, minlength=bins)
    gap = np.abs(np.bincount(b, p, bins) - np.bincount(b, y, bins))  # sums, not means
    return float(gap.sum() / count.sum())


def reliability_table(
    y: np.ndarray, p: np.ndarray, names: Sequence[str], bins: int = BINS
) -> pd.DataFrame:
    """Per bin centre: each class's observed positive rate (empty bins blank) and the diagonal.

    One column per class on a shared x, the layout DVC plots draws as one
    figure with a line per class.
    """
    centres = (np.arange(bins) + 0.5) / bins
    out = {"predicted": np.round(centres, 4), "perfect": np.round(centres, 4)}
    for k, name in enumerate(names):
        b = _bin_of(p[:, k], bins)
        count = np.bincount(b, minlength=bins)
        positives = np.bincount(b, y[:, k].astype(float), bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.round(np.where(count > 0, positives / count, np.nan), 5)
    return pd.DataFrame(out)


def fit_temperature(y: np.ndarray, logits: np.ndarray) -> float:
    """The temperature T > 0 minimising the BCE of ``sigmoid(logits / T)`` on one class.

    Searched on log T in [1/20, 20]; a class without both label values keeps T = 1.
    """
    y = np.asarray(y, dtype=float)
    z = np.asarray(logits, dtype=float)
    if not 0 < y.sum() < len(y):
        return 1.0

    def loss(log_t: float) -> float:
        s = z / np.exp(log_t)
        # log(1 + e^s) - y s, written stably
        return float(np.mean(np.logaddexp(0.0, s) - y * s))

    best = minimize_scalar(loss, bounds=(-np.log(20), np.log(20)), method="bounded")
    return float(np.exp(best.x))


def fit_temperatures(y: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """One temperature per class ``[C]``."""
    return np.array([fit_temperature(y[:, k], logits[:, k]) for k in range(y.shape[1])])


def apply_temperatures(logits: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """Calibrated probabilities ``sigmoid(logits / T)`` per class."""
    z = np.asarray(logits, dtype=np.float64) / np.asarray(temperatures)[None, :]
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function without overflow
