"""A trained model scored on an external data set: per finding that set scores, AUROC and
AUPRC with patient-bootstrap intervals, the same figure on the model's own (NIH) test split
beside it and the drop with its interval, the ECE under the calibration fitted on the NIH
validation split, and sensitivity and specificity at the NIH thresholds.

Each finding is scored on the images whose label is known for it (an uncertain label
under ``uncertain: ignore`` is left out of that finding only); an unscored finding is
absent, never a zero. The external and reference sets are independent samples of
patients, so the drop's interval resamples each set's patients on its own and takes
the percentiles of the differences.

Example::

    metrics = external_metrics(
        Scored(labels, probs, raw, patients),        # the external set, labels 1 / 0 / NaN
        Scored(nih_y, nih_probs, nih_raw, nih_pat),  # the NIH test split
        scored=["Effusion", "Edema"], thresholds=thresholds, resamples=1000,
    )
    metrics["per_class"]["Effusion"]["drop"]        # external AUROC - NIH test AUROC
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxr.evaluation.bootstrap import group_codes, interval, resample_counts, weighted_scores
from cxr.evaluation.calibration import expected_calibration_error
from cxr.evaluation.metrics import rounded
from cxr.findings import FINDINGS


@dataclass(frozen=True)
class Scored:
    """One set's labels ``[N, C]`` (1, 0, NaN: unknown), calibrated and raw probabilities
    ``[N, C]``, and each image's patient ``[N]``; columns in ``FINDINGS`` order."""

    labels: np.ndarray
    probs: np.ndarray
    raw: np.ndarray
    patients: np.ndarray


def scores_of_table(table: pd.DataFrame, raw: np.ndarray | None = None) -> Scored:
    """A prediction table (``cxr.evaluation.evaluate.prediction_table``: the 14 labels and
    ``p_<finding>``) as :class:`Scored`; ``raw``: the uncalibrated probabilities, when
    known (the reference's are not needed: its AUROC is the same under calibration)."""
    labels = table[list(FINDINGS)].to_numpy(np.float64)
    probs = table[[f"p_{n}" for n in FINDINGS]].to_numpy(np.float64)
    return Scored(labels, probs, probs if raw is None else raw, table.patient_id.to_numpy())


def resampled_scores(
    data: Scored, k: int, resamples: int, seed: int
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """AUROC and AUPRC of class ``k`` on its known labels, and their ``[resamples]`` patient
    bootstrap values (the draws depend on the set's patients and ``seed`` only, so every
    class of a set shares them)."""
    known = ~np.isnan(data.labels[:, k])
    codes = group_codes(data.patients)
    y, p = data.labels[known, k] == 1, data.probs[known, k]
    ones = np.ones((1, int(codes.max()) + 1 if len(codes) else 0))
    point = weighted_scores(y, p, ones, codes[known])
    rocs, prs = [], []
    for counts in resample_counts(codes, resamples, seed):
        roc, pr = weighted_scores(y, p, counts, codes[known])
        rocs.append(roc)
        prs.append(pr)
    empty = np.zeros(0)
    return (
        float(point[0][0]),
        float(point[1][0]),
        np.concatenate(rocs) if rocs else empty,
        np.concatenate(prs) if prs else empty,
    )


def external_metrics(
    external: Scored,
    reference: Scored,
    scored: Sequence[str],
    thresholds: np.ndarray,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    bins: int = 10,
) -> dict:
    """Every figure of the external set, per scored finding and as means over them."""
    per_class, drops, ext_means, ref_means = {}, [], [], []
    for name in scored:
        k = FINDINGS.index(name)
        auroc, auprc, boot_roc, boot_pr = resampled_scores(external, k, resamples, seed)
        ref_auroc, _, ref_roc, _ = resampled_scores(reference, k, resamples, seed + 1)
        known = ~np.isnan(external.labels[:, k])
        y, p = external.labels[known, k] == 1, external.probs[known, k]
        called = p >= thresholds[k]
        per_class[name] = {
            "positives": int(y.sum()),
            "negatives": int((~y).sum()),
            "unknown": int((~known).sum()),
            "auroc": rounded(auroc),
            "auroc_ci": interval(boot_roc, level),
            "auprc": rounded(auprc),
            "auprc_ci": interval(boot_pr, level),
            "nih_test_auroc": rounded(ref_auroc),
            "drop": rounded(auroc - ref_auroc),
            "drop_ci": interval(boot_roc - ref_roc, level),
            "ece": rounded(expected_calibration_error(y, p, bins)),
            "ece_uncalibrated": rounded(
                expected_calibration_error(y, external.raw[known, k], bins)
            ),
            "sensitivity": rounded(called[y].mean()) if y.any() else None,
            "specificity": rounded((~called[~y]).mean()) if (~y).any() else None,
        }
        drops.append(boot_roc - ref_roc)
        ext_means.append(boot_roc)
        ref_means.append(ref_roc)
    # The means cover the findings both sets score, so the drop is their difference.
    defined = [
        n for n in scored
        if per_class[n]["auroc"] is not None and per_class[n]["nih_test_auroc"] is not None
    ]  # fmt: skip
    return {
        "images": len(external.labels),
        "patients": len(set(external.patients)),
        "scored": list(scored),
        "classes_in_mean": defined,
        "mean_auroc": _mean(per_class, defined, "auroc"),
        "mean_auroc_ci": interval(_stack_mean(ext_means, scored, defined), level),
        "nih_test_mean_auroc": _mean(per_class, defined, "nih_test_auroc"),
        "mean_drop": _mean(per_class, defined, "drop"),
        "mean_drop_ci": interval(_stack_mean(drops, scored, defined), level),
        "mean_ece": _mean(per_class, defined, "ece"),
        "resamples": resamples,
        "level": level,
        "unit": "patient",
        "per_class": per_class,
    }


def _mean(per_class: dict, names: list[str], key: str) -> float | None:
    values = [per_class[n][key] for n in names if per_class[n][key] is not None]
    return rounded(float(np.mean(values))) if values else None


def _stack_mean(rows: list[np.ndarray], scored: Sequence[str], defined: list[str]) -> np.ndarray:
    """Per resample, the mean over the classes whose point estimate is defined."""
    chosen = [r for r, n in zip(rows, scored, strict=True) if n in defined]
    return np.mean(np.stack(chosen), axis=0) if chosen else np.zeros(0)


def external_headline(metrics: dict) -> dict:
    """What ``metrics/external/<name>.json`` keeps for ``dvc exp show``: the means with
    their intervals, and per scored finding its AUROC, the NIH figure and the drop."""
    keys = ("images", "patients", "mean_auroc", "mean_auroc_ci", "nih_test_mean_auroc")
    keys += ("mean_drop", "mean_drop_ci", "mean_ece")
    per_class = metrics["per_class"]
    return {
        **{k: metrics[k] for k in keys},
        "auroc": {n: per_class[n]["auroc"] for n in metrics["scored"]},
        "drop": {n: per_class[n]["drop"] for n in metrics["scored"]},
    }
