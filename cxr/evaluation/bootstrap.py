"""Patient-level bootstrap confidence intervals for AUROC and AUPRC, vectorised over resamples.

Images of one patient are correlated (follow-ups share anatomy, devices and
often findings), so resampling images pretends to more independent evidence
than the test set holds and gives intervals that are too narrow. Each
resample here draws *patients* with replacement; an image counts as many
times as its patient was drawn. A resample is then a vector of integer image
weights, and the weighted Mann-Whitney AUROC and the weighted average
precision below are exactly scikit-learn's ``roc_auc_score`` and
``average_precision_score`` on the data set with those images repeated. Every
resample of a class shares one sort of the scores, so 1,000 resamples cost a
few array passes instead of 1,000 scikit-learn calls.

A resample in which a class has no positive (or no negative) image has no
AUROC for that class: it is NaN there. A mean over classes is over a fixed set
(the classes the full data scores), so it is undefined in such a resample too;
:func:`interval` takes the percentiles of the usable resamples only, always
says how many there were and why the others were dropped, and withholds an
interval resting on fewer than :data:`MIN_USABLE_SHARE` of them: a resample
that happens to contain a positive of every rare finding is not a typical one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxr.evaluation.metrics import has_both_labels

#: Resamples drawn and scored at once: bounds memory to chunk x images weights.
CHUNK = 100


def group_codes(groups: Sequence) -> np.ndarray:
    """Integer code ``0..U-1`` of each image's resampling unit (patient, or the image itself)."""
    codes, _ = pd.factorize(pd.Series(groups), sort=True)
    if (codes < 0).any():
        raise ValueError("bootstrap groups contain missing values")
    return codes


def resample_counts(
    codes: np.ndarray, resamples: int, seed: int, chunk: int = CHUNK
) -> Iterator[np.ndarray]:
    """How often each unit is drawn, ``[b, U]`` per chunk, ``resamples`` rows in all.

    An image's weight in a resample is its unit's count. The same ``seed`` and
    codes give the same draws, which is what makes a paired comparison paired.
    """
    units = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        yield rng.multinomial(units, np.full(units, 1.0 / units), size=b).astype(np.float64)
        done += b


def weighted_scores(
    y: np.ndarray, scores: np.ndarray, counts: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and average precision of one class for each row of unit counts: two arrays ``[b]``.

    Image i weighs ``counts[:, codes[i]]``. Ties count one half in the AUROC
    and form one threshold in the average precision, as in scikit-learn. Only
    positives and negatives are gathered and summed once each, so a chunk
    costs a few passes over its weights.
    """
    y = np.asarray(y, dtype=bool)
    scores = np.asarray(scores)
    pos = np.flatnonzero(y)
    neg = np.flatnonzero(~y)
    pos = pos[np.argsort(scores[pos], kind="stable")]
    neg = neg[np.argsort(scores[neg], kind="stable")]
    s_pos, s_neg = scores[pos], scores[neg]
    w_pos = counts[:, codes[pos]]  # [b, positives], ascending scores
    zero = np.zeros((len(counts), 1))
    neg_cum = np.concatenate([zero, np.cumsum(counts[:, codes[neg]], axis=1)], axis=1)
    pos_cum = np.concatenate([zero, np.cumsum(w_pos, axis=1)], axis=1)
    n_pos, n_neg = pos_cum[:, -1], neg_cum[:, -1]
    neg_below = neg_cum[:, np.searchsorted(s_neg, s_pos, "left")]
    neg_tied = neg_cum[:, np.searchsorted(s_neg, s_pos, "right")] - neg_below
    # At the threshold of positive i every image scoring >= s_i is called positive.
    true_pos = n_pos[:, None] - pos_cum[:, np.searchsorted(s_pos, s_pos, "left")]
    called = true_pos + n_neg[:, None] - neg_below
    with np.errstate(invalid="ignore", divide="ignore"):
        auroc = (w_pos * (neg_below + 0.5 * neg_tied)).sum(1) / (n_pos * n_neg)
        precision = true_pos / np.where(called > 0, called, 1.0)
        ap = (w_pos * precision).sum(1) / n_pos
    auroc[(n_pos == 0) | (n_neg == 0)] = np.nan
    ap[n_pos == 0] = np.nan
    return auroc, ap


@dataclass
class BootstrapScores:
    """Per-resample AUROC and AUPRC ``[B, C]`` and their means over the defined classes ``[B]``."""

    auroc: np.ndarray
    auprc: np.ndarray
    classes: np.ndarray  # bool [C]: classes whose point estimate is defined (the ones averaged)

    @property
    def mean_auroc(self) -> np.ndarray:
        return row_mean(self.auroc[:, self.classes])

    @property
    def mean_auprc(self) -> np.ndarray:
        return row_mean(self.auprc[:, self.classes])


def row_mean(values: np.ndarray) -> np.ndarray:
    """Mean per resample; NaN where a class it should include is undefined in that resample."""
    return values.mean(1) if values.shape[1] else np.full(len(values), np.nan)


def bootstrap_scores(
    y: np.ndarray,
    probs: np.ndarray,
    groups: Sequence,
    resamples: int = 1000,
    seed: int = 0,
) -> BootstrapScores:
    """Per-resample AUROC and AUPRC of every class, resampling ``groups`` (e.g. patients);
    each class on its known labels (NaN: unknown, as an external set's); NaN throughout for
    a class whose scores are NaN (a model without that output)."""
    labels = np.asarray(y, dtype=np.float64)
    known = ~np.isnan(labels)
    y = labels == 1
    probs = np.asarray(probs, dtype=np.float64)
    unscored = np.isnan(probs).any(axis=0)  # a model without that output (a peer's)
    classes = has_both_labels(labels) & ~unscored
    codes = group_codes(groups)
    auroc = np.full((resamples, y.shape[1]), np.nan)
    auprc = np.full((resamples, y.shape[1]), np.nan)
    done = 0
    for counts in resample_counts(codes, resamples, seed):
        rows = slice(done, done + len(counts))
        for k in np.flatnonzero(~unscored):
            m = known[:, k]
            auroc[rows, k], auprc[rows, k] = weighted_scores(y[m, k], probs[m, k], counts, codes[m])
        done += len(counts)
    return BootstrapScores(auroc=auroc, auprc=auprc, classes=classes)


#: An interval is published only when at least this share of its resamples define the
#: figure: the percentiles of a smaller subset describe resamples picked for having, say,
#: a positive of every finding, not the sampling distribution, and would look whole.
MIN_USABLE_SHARE = 0.9
#: Why a resample of an AUROC-based figure is undefined (the usual ``dropped_because``).
NO_BOTH_LABELS = "a finding in the figure had no positive or no negative among the units drawn"


def interval(
    values: np.ndarray, level: float = 0.95, unit: str = "patient", why: str = NO_BOTH_LABELS
) -> dict:
    """Percentile interval of the resamples that define the figure, stating what it rests on.

    Always: ``unit`` (what was resampled: ``patient``, or ``image`` where a set has no
    patient ids), ``resamples`` and ``usable_resamples``; ``dropped_because`` (``why``)
    when some are undefined; and ``low``/``high`` ``None`` with ``withheld`` saying why,
    when fewer than :data:`MIN_USABLE_SHARE` of them are usable.

    >>> interval(np.array([0.7, 0.8, np.nan, 0.9]), 0.5)["withheld"]
    'only 3 of 4 resamples define it; an interval needs 90%'
    """
    values = np.asarray(values, dtype=float)
    defined = values[np.isfinite(values)]
    out: dict = {"low": None, "high": None, "unit": unit, "resamples": len(values),
                 "usable_resamples": len(defined)}  # fmt: skip
    if len(defined) < len(values):
        out["dropped_because"] = why
    if not len(defined) or len(defined) < MIN_USABLE_SHARE * len(values):
        out["withheld"] = (
            f"only {len(defined)} of {len(values)} resamples define it; an interval needs "
            f"{100 * MIN_USABLE_SHARE:.0f}%"
        )
        return out
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(defined, [tail, 100 - tail])
    out["low"], out["high"] = round(float(low), 6), round(float(high), 6)
    return out
