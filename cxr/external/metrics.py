"""A trained model scored on an external data set: per finding that set scores, AUROC and
AUPRC with patient-bootstrap intervals, the same figure on the model's own (NIH) test split
beside it and the drop with its interval, the ECE under the calibration fitted on the NIH
validation split, and sensitivity and specificity at the NIH thresholds.

Each finding is scored on the images whose label is known for it (an uncertain label
under ``uncertain: ignore`` is left out of that finding only); an unscored finding is
absent, never a zero. AUROC and AUPRC rank the raw logits; ECE and the operating
point use the calibrated probabilities. Intervals resample the set's ``unit``:
patients, or images where the set has no patient ids
(``cxr.external.formats.Format.resampling_unit``). The external and reference sets
are independent samples of patients, so the drop's interval resamples each set on
its own and takes the percentiles of the differences. That does not hold for an NIH
re-read (``origin="nih_reread"``: RSNA's and SIIM's films are NIH's own, and may be
the very patients of the NIH splits): its difference from the NIH test figure is
reported, but not as a drop, and without an interval.

Example::

    metrics = external_metrics(
        Scored(labels, probs, logits, patients),        # the external set, labels 1 / 0 / NaN
        Scored(nih_y, nih_probs, nih_logits, nih_pat),  # the NIH test split
        scored=["Effusion", "Edema"], thresholds=thresholds, resamples=1000,
        unit="patient", origin="external",
    )
    metrics["per_class"]["Effusion"]["drop"]        # external AUROC - NIH test AUROC
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxr.evaluation.bootstrap import group_codes, interval, resample_counts, weighted_scores
from cxr.evaluation.calibration import Calibration, expected_calibration_error
from cxr.evaluation.evaluate import rank_scores
from cxr.evaluation.metrics import rounded
from cxr.findings import FINDINGS

#: Why an NIH re-read's difference from the NIH test figure has no interval.
NOT_INDEPENDENT = (
    "not an external drop: the set's films are NIH's own, so the two samples are not "
    "independent and the interval for independent sets does not apply"
)


@dataclass(frozen=True)
class Scored:
    """One set's labels ``[N, C]`` (1, 0, NaN: unknown), calibrated probabilities and raw
    logits ``[N, C]``, and each image's patient ``[N]``; columns in ``FINDINGS`` order."""

    labels: np.ndarray
    probs: np.ndarray
    logits: np.ndarray
    patients: np.ndarray

    @property
    def raw(self) -> np.ndarray:
        """The uncalibrated probabilities."""
        return Calibration.identity(self.logits.shape[1]).apply(self.logits)


def scores_of_table(table: pd.DataFrame) -> Scored:
    """A prediction table (``cxr.evaluation.evaluate.prediction_table``: the 14 labels,
    ``p_<finding>`` and ``logit_<finding>``) as :class:`Scored`."""
    labels = table[list(FINDINGS)].to_numpy(np.float64)
    probs = table[[f"p_{n}" for n in FINDINGS]].to_numpy(np.float64)
    return Scored(labels, probs, rank_scores(table), table.patient_id.to_numpy())


def resampled_scores(
    data: Scored, k: int, resamples: int, seed: int
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """AUROC and AUPRC of class ``k`` on its known labels, and their ``[resamples]`` patient
    bootstrap values (the draws depend on the set's patients and ``seed`` only, so every
    class of a set shares them)."""
    known = ~np.isnan(data.labels[:, k])
    codes = group_codes(data.patients)
    y, p = data.labels[known, k] == 1, data.logits[known, k]
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
    unit: str = "patient",
    origin: str = "external",
) -> dict:
    """Every figure of the external set, per scored finding and as means over them;
    ``unit``: what the set's intervals resample (the reference's are patients);
    ``origin``: ``external`` or ``nih_reread`` (no interval for the difference)."""
    per_class, drops, ext_means = {}, [], []
    raw = external.raw  # once: every finding reads its column
    drop_interval = functools.partial(_drop_interval, level=level, unit=unit, origin=origin)

    for name in scored:
        k = FINDINGS.index(name)
        auroc, auprc, boot_roc, boot_pr = resampled_scores(external, k, resamples, seed)
        ref_auroc, _, ref_roc, _ = resampled_scores(reference, k, resamples, seed + 1)
        counts, calls = _counts_and_calls(external, raw, k, thresholds[k], bins)
        per_class[name] = {
            **counts,
            "auroc": rounded(auroc),
            "auroc_ci": interval(boot_roc, level, unit),
            "auprc": rounded(auprc),
            "auprc_ci": interval(boot_pr, level, unit),
            "nih_test_auroc": rounded(ref_auroc),
            "drop": rounded(auroc - ref_auroc),
            "drop_ci": drop_interval(boot_roc - ref_roc),
            **calls,
        }
        drops.append(boot_roc - ref_roc)
        ext_means.append(boot_roc)
    # The means cover the findings both sets score, so the drop is their difference.
    defined = [
        n for n in scored
        if per_class[n]["auroc"] is not None and per_class[n]["nih_test_auroc"] is not None
    ]  # fmt: skip
    return {
        "origin": origin,
        "images": len(external.labels),
        "patients" if unit == "patient" else "patient_ids": len(set(external.patients)),
        "scored": list(scored),
        "classes_in_mean": defined,
        "mean_auroc": _mean(per_class, defined, "auroc"),
        "mean_auroc_ci": interval(_stack_mean(ext_means, scored, defined), level, unit),
        "nih_test_mean_auroc": _mean(per_class, defined, "nih_test_auroc"),
        "mean_drop": _mean(per_class, defined, "drop"),
        "mean_drop_ci": drop_interval(_stack_mean(drops, scored, defined)),
        "mean_ece": _mean(per_class, defined, "ece"),
        "resamples": resamples,
        "level": level,
        "unit": unit,
        "per_class": per_class,
    }


def _drop_interval(values: np.ndarray, level: float, unit: str, origin: str) -> dict:
    """The interval of a difference from NIH test; withheld for an NIH re-read, whose
    films are not a sample independent of NIH test's."""
    out = interval(values, level, f"{unit} (this set), patient (NIH test)")
    if origin == "nih_reread":
        out |= {"low": None, "high": None, "withheld": NOT_INDEPENDENT}
    return out


def _counts_and_calls(
    external: Scored, raw: np.ndarray, k: int, threshold: float, bins: int
) -> tuple[dict, dict]:
    """Finding ``k``'s labelled cases; and its calibration error (calibrated and ``raw``)
    and its sensitivity and specificity at the NIH validation threshold."""
    known = ~np.isnan(external.labels[:, k])
    y, p = external.labels[known, k] == 1, external.probs[known, k]
    called = p >= threshold
    counts = {"positives": int(y.sum()), "negatives": int((~y).sum()),
              "unknown": int((~known).sum())}  # fmt: skip
    return counts, {
        "ece": rounded(expected_calibration_error(y, p, bins)),
        "ece_uncalibrated": rounded(expected_calibration_error(y, raw[known, k], bins)),
        "sensitivity": rounded(called[y].mean()) if y.any() else None,
        "specificity": rounded((~called[~y]).mean()) if (~y).any() else None,
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
    their intervals, and per scored finding its AUROC, the NIH figure and the drop; for an
    NIH re-read the drop is named for what it is (``mean_reread_difference``), so no
    column of ``dvc exp show`` calls it an external drop."""
    keys = ("origin", "images", "patients", "patient_ids", "unit", "mean_auroc", "mean_auroc_ci")
    keys += ("nih_test_mean_auroc", "mean_drop", "mean_drop_ci", "mean_ece")
    per_class = metrics["per_class"]
    out = {
        **{k: metrics[k] for k in keys if k in metrics},
        "auroc": {n: per_class[n]["auroc"] for n in metrics["scored"]},
        "drop": {n: per_class[n]["drop"] for n in metrics["scored"]},
    }
    if "guard" in metrics:
        guard = metrics["guard"]
        out["guard_flagged_share"] = guard["flagged_share"]
        out["unflagged_mean_auroc"] = guard["unflagged_mean_auroc"]
    if metrics.get("origin") == "nih_reread":
        renamed = {"mean_drop": "mean_reread_difference", "drop": "reread_difference",
                   "mean_drop_ci": "mean_reread_difference_ci"}  # fmt: skip
        out = {renamed.get(k, k): v for k, v in out.items()}
    return out


def unflagged_figures(table: pd.DataFrame, reference: Scored, *args, **kwargs) -> dict:
    """The mean AUROC, its interval and the AUROC per finding on the images the input guard
    accepted (``guard_reason`` empty); ``args`` as :func:`external_metrics`'s after
    ``reference``. None where it accepted none."""
    kept = table[table["guard_reason"] == ""]
    if kept.empty:
        return {"unflagged_mean_auroc": None}
    figures = external_metrics(scores_of_table(kept), reference, *args, **kwargs)
    return {
        "unflagged_mean_auroc": figures["mean_auroc"],
        "unflagged_mean_auroc_ci": figures["mean_auroc_ci"],
        "unflagged_auroc": {n: figures["per_class"][n]["auroc"] for n in figures["scored"]},
    }
