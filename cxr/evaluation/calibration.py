"""Calibration of per-class probabilities: calibration error, reliability tables, temperature.

ECE follows Guo et al. (ICML 2017) per class: probabilities fall into equal-width
bins and ECE is the image-weighted mean gap between each bin's mean probability
and its observed frequency of positives. For a binary finding this is the
calibration of the class probability itself, not of the top-label confidence.

Both recalibrations map each class's logit z through ``sigmoid(a z + b)``
with a > 0, fitted on *validation* by minimising the binary cross-entropy:

* ``platt`` (Platt 1999): slope and intercept per class. The default: the
  focal loss and ``pos_weight`` shift logits upward (more so for rare
  classes), a bias a slope alone cannot remove.
* ``temperature`` (Guo et al., ICML 2017): intercept 0, a = 1/T.

Both fit Platt's regularised targets, not the bare labels: a positive's target
is (N+ + 1) / (N+ + 2) and a negative's 1 / (N- + 2) (Platt 1999, section 2.2).
With 0/1 targets a class that validation separates (nearly) perfectly drives
the slope to infinity: calibrated probabilities then tie at exactly 1.0 in
float64 and every threshold or rank figure computed on them is computed on
ties. With these targets the best slope is finite. Slopes are still kept
within [1/20, 20] and intercepts within [-20, 20], and a fit that ends on a
bound is listed by :func:`bound_hits`.

Neither changes a ranking in exact arithmetic, but sigmoids round: rank figures
(AUROC, AUPRC, curves) are computed on the raw logits, and thresholds are
chosen on the raw validation logits and then mapped through the calibration
(``cxr.evaluation.thresholds``).

Example: validation labels ``[0, 0, 1, 1]`` with logits ``[-2, -1, 1, 2]`` are
separated; with 0/1 targets the slope would run to its bound, with Platt's
targets (3/4 and 1/4) it stops at about 0.67, so the top case gets 0.79, not 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar

from cxr.evaluation.metrics import has_both_labels


def _bin_of(p: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((np.asarray(p) * bins).astype(int), bins - 1)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int) -> float:
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
    y: np.ndarray, p: np.ndarray, names: Sequence[str], bins: int
) -> pd.DataFrame:
    """Per bin centre: each class's observed positive rate (empty bins blank) and the diagonal.

    One column per class on a shared x, the layout DVC plots draws as one
    figure with a line per class.
    """
    centres = (np.arange(bins) + 0.5) / bins
    out = {"predicted": np.round(centres, 4), "perfect": np.round(centres, 4)}
    for k, name in enumerate(names):
        known = ~np.isnan(np.asarray(y[:, k], dtype=np.float64))  # NaN: the source lacks it
        b = _bin_of(p[known, k], bins)
        count = np.bincount(b, minlength=bins)
        positives = np.bincount(b, y[known, k].astype(float), bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.round(np.where(count > 0, positives / count, np.nan), 5)
    return pd.DataFrame(out)


#: Bounds of the fitted slope (log scale) and intercept.
_LOG_SLOPE, _INTERCEPT = (-np.log(20), np.log(20)), (-20.0, 20.0)


@dataclass(frozen=True)
class Calibration:
    """Per class ``p = sigmoid(slope * logit + intercept)``."""

    method: str
    slope: np.ndarray  # [C], > 0
    intercept: np.ndarray  # [C]

    @classmethod
    def identity(cls, classes: int) -> Calibration:
        return cls("none", np.ones(classes), np.zeros(classes))

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``[N, C]``."""
        z = np.asarray(logits, dtype=np.float64) * self.slope[None, :] + self.intercept[None, :]
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function without overflow

    def to_json(self, names: Sequence[str]) -> dict:
        return {
            "method": self.method,
            "slope": {n: float(v) for n, v in zip(names, self.slope, strict=True)},
            "intercept": {n: float(v) for n, v in zip(names, self.intercept, strict=True)},
        }

    @classmethod
    def from_json(cls, data: dict, names: Sequence[str]) -> Calibration:
        return cls(
            data["method"],
            np.array([data["slope"][n] for n in names], dtype=np.float64),
            np.array([data["intercept"][n] for n in names], dtype=np.float64),
        )


def _bce(y: np.ndarray, s: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, s) - y * s))  # log(1 + e^s) - y s, stably


def platt_targets(y: np.ndarray) -> np.ndarray:
    """Platt's regularised targets: (N+ + 1) / (N+ + 2) for a positive, 1 / (N- + 2) for a
    negative (a Bayesian prior on each class's frequency: never exactly 0 or 1)."""
    y = np.asarray(y, dtype=float)
    positives = float(y.sum())
    negatives = float(len(y) - positives)
    return np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))


def fit_one(y: np.ndarray, logits: np.ndarray, method: str) -> tuple[float, float]:
    """Slope and intercept of one class; (1, 0) for ``none`` or without both label values."""
    y = np.asarray(y, dtype=float)
    z = np.asarray(logits, dtype=float)
    if method == "none" or not has_both_labels(y):
        return 1.0, 0.0
    y = platt_targets(y)
    if method == "temperature":
        best = minimize_scalar(
            lambda q: _bce(y, z * np.exp(q)), bounds=_LOG_SLOPE, method="bounded"
        )
        return float(np.exp(best.x)), 0.0
    if method == "platt":
        best = minimize(
            lambda q: _bce(y, z * np.exp(q[0]) + q[1]),
            x0=np.zeros(2),
            method="L-BFGS-B",
            bounds=[_LOG_SLOPE, _INTERCEPT],
        )
        return float(np.exp(best.x[0])), float(best.x[1])
    raise ValueError(f"unknown calibration {method!r}: use platt, temperature or none")


def fit_calibration(y: np.ndarray, logits: np.ndarray, method: str) -> Calibration:
    """Per-class calibration fitted on (validation) labels ``[N, C]`` and logits ``[N, C]``,
    each class on its known labels (NaN: a source that does not label it)."""
    y = np.asarray(y, dtype=np.float64)
    known = ~np.isnan(y)
    fitted = np.array(
        [fit_one(y[known[:, k], k], logits[known[:, k], k], method) for k in range(y.shape[1])]
    )
    return Calibration(method, fitted[:, 0], fitted[:, 1])


def bound_hits(calibration: Calibration, names: Sequence[str]) -> list[str]:
    """The classes whose fitted slope or intercept ended on a bound (the fit was stopped,
    not finished): listed in the metrics, so a saturated calibration cannot pass unseen."""
    log_slope = np.log(calibration.slope)
    hit = (np.isclose(log_slope, _LOG_SLOPE[0]) | np.isclose(log_slope, _LOG_SLOPE[1])
           | np.isclose(np.abs(calibration.intercept), _INTERCEPT[1]))  # fmt: skip
    return [n for n, h in zip(names, hit, strict=True) if h]
