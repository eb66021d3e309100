"""Evaluate a model on validation and test: metrics with patient-level intervals, calibration,
thresholds from validation, subgroups, expert labels.

Everything fitted (calibration, thresholds) is fitted on the validation split
only and then applied, unchanged, to test: fitting on test would flatter every
number in the report. Intervals resample patients (``cxr.evaluation.bootstrap``).
Rank figures (AUROC, AUPRC, their intervals and curves) are computed on the raw
logits: calibration is monotone, but its rounded sigmoid can tie cases that the
logits order. Calibration figures use the calibrated probabilities.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxr.config import EvaluateConfig
from cxr.evaluation.bootstrap import bootstrap_scores, interval
from cxr.evaluation.calibration import (
    Calibration,
    bound_hits,
    expected_calibration_error,
    fit_calibration,
    reliability_table,
)
from cxr.evaluation.expert import expert_evaluation
from cxr.evaluation.metrics import (
    auprc,
    auroc,
    confusion_table,
    label_gaps,
    nan_mean,
    pr_table,
    roc_table,
    rounded,
)
from cxr.evaluation.subgroups import group_order, subgroup_labels
from cxr.evaluation.thresholds import fit_thresholds
from cxr.findings import FINDINGS
from cxr.guard.guard import Verdict

#: Fewer validation positives than this make a threshold a guess: warned and listed.
MIN_THRESHOLD_POSITIVES = 5
#: Metadata carried into the prediction tables (subgroup analyses need them).
PREDICTION_META = ("image_id", "patient_id", "follow_up", "age", "sex", "view", "source")


@dataclass
class SplitOutputs:
    """A split's index (metadata and the 14 label columns) and the model's logits ``[N, 14]``."""

    index: pd.DataFrame
    logits: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """``[N, 14]`` 1, 0, or NaN where the image's source does not label the finding."""
        return self.index[list(FINDINGS)].to_numpy(dtype=np.float32)

    @property
    def patients(self) -> np.ndarray:
        return self.index["patient_id"].to_numpy()


def prediction_table(
    index: pd.DataFrame,
    probs: np.ndarray,
    split: str,
    logits: np.ndarray | None = None,
    unit: str = "patient",
    verdict: Verdict | None = None,
) -> pd.DataFrame:
    """Per image: its split, metadata, the 14 labels, the 14 calibrated probabilities
    (``p_<finding>``) and, when given, the raw logits (``logit_<finding>``: what rank
    figures are computed on, :func:`rank_scores`).

    The split travels with the table, so ``cxr compare`` can refuse to choose on test,
    and so does ``resampling_unit``, what its ``patient_id`` identifies (``patient``, or
    ``image ...`` for a set without patient ids), so its intervals say what they resample.
    With ``verdict``, the input guard's ``guard_distance`` and ``guard_reason`` columns.
    """
    table = index[[c for c in PREDICTION_META if c in index]].copy()
    table.insert(0, "split", split)
    table.insert(1, "resampling_unit", unit)
    for k, name in enumerate(FINDINGS):
        table[name] = index[name].to_numpy()
        table[f"p_{name}"] = probs[:, k]
        if logits is not None:
            table[f"logit_{name}"] = logits[:, k]
    if verdict is not None:  # the input guard's score and reason ("" where accepted)
        table["guard_distance"] = verdict.distances.astype(np.float32)
        table["guard_reason"] = verdict.reasons.astype(str)
    return table


def rank_scores(table: pd.DataFrame) -> np.ndarray:
    """``[N, 14]`` scores to rank a prediction table's images by: the raw logits where the
    table has them, else the probabilities (a table written before they were kept)."""
    prefix = "logit_" if all(f"logit_{n}" in table for n in FINDINGS) else "p_"
    return table[[f"{prefix}{n}" for n in FINDINGS]].to_numpy(np.float64)


def scored_metrics(
    y: np.ndarray,
    p: np.ndarray,
    patients: np.ndarray,
    config: EvaluateConfig,
    class_intervals: bool = True,
    unit: str = "patient",
) -> dict:
    """AUROC and AUPRC per class and as means, with patient-bootstrap intervals, of the
    scores ``p`` (raw logits: ranks only matter); ``unit`` names what ``patients`` holds.

    ``class_intervals=False`` keeps only the intervals of the means (subgroup
    tables stay readable in ``dvc metrics show``).
    """
    roc, pr = auroc(y, p, FINDINGS), auprc(y, p, FINDINGS)
    out = {
        "images": len(y),
        "patients": int(pd.Series(patients).nunique()),
        "mean_auroc": rounded(nan_mean(roc)),
        "mean_auprc": rounded(nan_mean(pr)),
        "classes_in_mean": int(np.isfinite(roc).sum()),
        "auroc": {n: rounded(v) for n, v in zip(FINDINGS, roc, strict=True)},
        "auprc": {n: rounded(v) for n, v in zip(FINDINGS, pr, strict=True)},
        "positives": {n: int(v) for n, v in zip(FINDINGS, (y == 1).sum(0), strict=True)},
    }
    if config.bootstrap and len(y):
        boot = bootstrap_scores(y, p, patients, config.bootstrap, config.seed)
        level = config.confidence
        out["ci"] = {
            "level": level,
            "resamples": config.bootstrap,
            "unit": unit,
            "mean_auroc": interval(boot.mean_auroc, level, unit),
            "mean_auprc": interval(boot.mean_auprc, level, unit),
        }  # the means: over the classes_in_mean, the same set in every resample
        if class_intervals:
            out["ci"]["auroc"] = {
                n: interval(boot.auroc[:, k], level, unit) for k, n in enumerate(FINDINGS)
            }
            out["ci"]["auprc"] = {
                n: interval(boot.auprc[:, k], level, unit) for k, n in enumerate(FINDINGS)
            }
    return out


def subgroup_metrics(
    index: pd.DataFrame, y: np.ndarray, p: np.ndarray, config: EvaluateConfig
) -> dict:
    """:func:`scored_metrics` within each group of sex, age band and view position."""
    out = {}
    for attribute, labels in subgroup_labels(index).items():
        groups = {}
        for group in group_order(labels):
            rows = np.flatnonzero(labels.to_numpy() == group)
            with warnings.catch_warnings():
                # A small group lacking a class is expected; its mean counts the classes it has.
                warnings.simplefilter("ignore", UserWarning)
                groups[group] = scored_metrics(
                    y[rows], p[rows], index["patient_id"].to_numpy()[rows], config, False
                )
        out[attribute] = groups
    return out


def calibration_metrics(y: np.ndarray, raw: np.ndarray, calibrated: np.ndarray, bins: int) -> dict:
    """ECE per class (on its known labels) and mean, of the raw sigmoid and of the calibrated
    probabilities."""
    known = ~np.isnan(y)
    before, after = (
        [expected_calibration_error(y[known[:, k], k], q[known[:, k], k], bins)
         for k in range(y.shape[1])]
        for q in (raw, calibrated)
    )  # fmt: skip
    return {
        "bins": bins,
        "mean_ece": rounded(np.mean(after)),
        "mean_ece_uncalibrated": rounded(np.mean(before)),
        "ece": {n: rounded(v) for n, v in zip(FINDINGS, after, strict=True)},
        "ece_uncalibrated": {n: rounded(v) for n, v in zip(FINDINGS, before, strict=True)},
    }


def threshold_support(y_val: np.ndarray) -> dict:
    """Which thresholds validation could not choose (default 0.5) or chose from few positives.

    Each such class is also a warning: a silent 0.5 would look like a choice.
    """
    gaps = label_gaps(y_val, FINDINGS)
    defaulted = [n for n in FINDINGS if n in gaps["no_positives"] or n in gaps["no_negatives"]]
    positives = (y_val == 1).sum(0)
    few = {
        n: int(positives[k])
        for k, n in enumerate(FINDINGS)
        if n not in defaulted and positives[k] < MIN_THRESHOLD_POSITIVES
    }
    for name in defaulted:
        warnings.warn(
            f"{name}: validation has only one label value; its threshold is the default 0.5",
            stacklevel=3,
        )
    for name, count in few.items():
        warnings.warn(
            f"{name}: threshold chosen from {count} validation positive(s); treat it as a guess",
            stacklevel=3,
        )
    return {"defaulted_to_0.5": defaulted, "few_validation_positives": few}


@dataclass
class Evaluation:
    metrics: dict
    thresholds: dict[str, float]
    calibration: Calibration
    probs: dict[str, np.ndarray]  # calibrated probabilities per split
    confusion: pd.DataFrame  # test counts at the validation thresholds
    roc: pd.DataFrame  # test ROC curves on a fixed FPR grid
    pr: pd.DataFrame  # test PR curves on a fixed recall grid
    reliability: pd.DataFrame  # test reliability diagram, one column per class


def evaluate(
    val: SplitOutputs,
    test: SplitOutputs,
    config: EvaluateConfig,
    expert: pd.DataFrame | None = None,
) -> Evaluation:
    """Fit calibration and thresholds on ``val``; report everything on ``test``."""
    y_val, y_test = val.labels, test.labels
    calibration = fit_calibration(y_val, val.logits, config.calibration)
    p_val = calibration.apply(val.logits)
    p_test = calibration.apply(test.logits)
    thresholds = fit_thresholds(y_val, val.logits, calibration, FINDINGS,
                                config.threshold_policy, config.target_sensitivity)  # fmt: skip
    confusion = confusion_table(y_test, p_test, thresholds, FINDINGS)
    raw_test = Calibration.identity(len(FINDINGS)).apply(test.logits)
    threshold_notes = threshold_support(y_val)
    metrics = {
        "test": scored_metrics(y_test, test.logits, test.patients, config),
        "val": scored_metrics(y_val, val.logits, val.patients, config),
        "calibration": _calibration_metrics(calibration, y_test, raw_test, p_test, config),
        "threshold_policy": config.threshold_policy,
        "threshold_support": threshold_notes,
        "test_at_val_thresholds": _operating_points(confusion),
        "subgroups": subgroup_metrics(test.index, y_test, test.logits, config),
        "expert_labels": expert_evaluation(
            expert, test.index, p_test, config.bootstrap, config.seed, config.confidence
        ),
    }
    return Evaluation(
        metrics=metrics,
        thresholds={n: float(t) for n, t in zip(FINDINGS, thresholds, strict=True)},
        calibration=calibration,
        probs={"val": p_val, "test": p_test},
        confusion=confusion,
        roc=roc_table(y_test, test.logits, FINDINGS),
        pr=pr_table(y_test, test.logits, FINDINGS),
        reliability=reliability_table(y_test, p_test, FINDINGS, config.calibration_bins),
    )


def _calibration_metrics(
    calibration: Calibration,
    y_test: np.ndarray,
    raw_test: np.ndarray,
    p_test: np.ndarray,
    config: EvaluateConfig,
) -> dict:
    """How calibration was fitted (on validation), its parameters, and its effect on test."""
    return {
        "method": config.calibration,
        "fitted_on": "val",
        "targets": "Platt's regularised targets",
        "on_a_bound": bound_hits(calibration, FINDINGS),
        "slope": {n: round(float(v), 6) for n, v in zip(FINDINGS, calibration.slope, strict=True)},
        "intercept": {
            n: round(float(v), 6) for n, v in zip(FINDINGS, calibration.intercept, strict=True)
        },
        "test": calibration_metrics(y_test, raw_test, p_test, config.calibration_bins),
    }


def _operating_points(confusion: pd.DataFrame) -> dict:
    """Each finding's test counts and rates at its validation-chosen threshold."""
    return {
        r.finding: {
            "threshold": round(float(r.threshold), 6),
            "TP": int(r.TP),
            "FP": int(r.FP),
            "FN": int(r.FN),
            "TN": int(r.TN),
            "sensitivity": rounded(r.sensitivity),
            "specificity": rounded(r.specificity),
            "PPV": rounded(r.PPV),
        }
        for r in confusion.itertuples()
    }


def headline(metrics: dict) -> dict:
    """The numbers compared across experiments (``metrics/eval.json``; the rest goes to
    ``reports/evaluation.json``).

    Validation carries what experiments are chosen on: mean AUROC and AUPRC with their
    intervals, and AUROC per class. Test carries the final report only: the means with
    intervals and the calibrated ECE, so ``dvc exp show`` stays readable and no
    per-class test column invites choosing on test. Each interval says what it rests
    on: its resampling unit and how many of its resamples were usable.
    """

    def with_ci(split: dict, key: str) -> dict:
        ci = split.get("ci", {}).get(key, {})
        kept = ("low", "high", "unit", "usable_resamples", "resamples", "withheld")
        return {"value": split[key], **{k: ci[k] for k in kept if k in ci}}

    val, test = metrics["val"], metrics["test"]
    guard = metrics.get("guard")
    flagged = (
        {}
        if guard is None
        else {"guard_flagged_share": {s: guard[s]["flagged_share"] for s in ("val", "test")}}
    )
    sources = {
        name: {"test_mean_auroc": with_ci(entry["test"], "mean_auroc")}
        for name, entry in metrics.get("sources", {}).items()
        if "test" in entry
    }
    held = metrics.get("held_out")
    if held:  # the leave-one-source-out figure, with the interval it rests on
        sources[held["source"]]["held_out_drop"] = {"value": held["drop"], **held.get("ci", {})}
    return {
        **flagged,
        **({"sources": sources} if sources else {}),
        "val": {
            "mean_auroc": with_ci(val, "mean_auroc"),
            "mean_auprc": with_ci(val, "mean_auprc"),
            "auroc": val["auroc"],
        },
        "test": {
            "mean_auroc": with_ci(test, "mean_auroc"),
            "mean_auprc": with_ci(test, "mean_auprc"),
            "mean_ece": metrics["calibration"]["test"]["mean_ece"],
        },
    }
