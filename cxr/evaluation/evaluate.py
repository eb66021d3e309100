"""Evaluate a model on validation and test: metrics, thresholds from validation, test confusion.

Thresholds are chosen on the validation split only and then applied, unchanged,
to test: choosing them on test would flatter every count in the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from cxr.evaluation.metrics import (
    auprc,
    auroc,
    choose_threshold,
    confusion_table,
    nan_mean,
    pr_table,
    roc_table,
)
from cxr.findings import FINDINGS

#: Metadata carried into the prediction tables (subgroup analyses need them).
PREDICTION_META = ("image_id", "patient_id", "follow_up", "age", "sex", "view")


@dataclass(frozen=True)
class EvaluateConfig:
    """The ``evaluate`` section of params.yaml."""

    threshold_policy: Literal["max_f1", "youden", "sensitivity"] = "max_f1"
    target_sensitivity: float = 0.9  # with the "sensitivity" policy
    batch_size: int = 128
    device: str = "auto"


def prediction_table(index: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """Per image: metadata, the 14 labels and the 14 probabilities (``p_<finding>``)."""
    table = index[[c for c in PREDICTION_META if c in index]].copy()
    for k, name in enumerate(FINDINGS):
        table[name] = index[name].to_numpy()
        table[f"p_{name}"] = probs[:, k]
    return table


def split_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    roc, pr = auroc(y, p, FINDINGS), auprc(y, p, FINDINGS)
    return {
        "images": len(y),
        "mean_auroc": nan_mean(roc),
        "mean_auprc": nan_mean(pr),
        "classes_in_mean": int(np.isfinite(roc).sum()),
        "auroc": {n: _num(v) for n, v in zip(FINDINGS, roc, strict=True)},
        "auprc": {n: _num(v) for n, v in zip(FINDINGS, pr, strict=True)},
        "positives": {n: int(v) for n, v in zip(FINDINGS, y.sum(0), strict=True)},
    }


@dataclass
class Evaluation:
    metrics: dict
    thresholds: dict[str, float]
    confusion: pd.DataFrame  # test counts at the validation thresholds
    roc: pd.DataFrame  # test ROC curves on a fixed FPR grid
    pr: pd.DataFrame  # test PR curves on a fixed recall grid


def evaluate(
    y_val: np.ndarray,
    p_val: np.ndarray,
    y_test: np.ndarray,
    p_test: np.ndarray,
    config: EvaluateConfig,
) -> Evaluation:
    thresholds = np.array(
        [
            choose_threshold(
                y_val[:, k], p_val[:, k], config.threshold_policy, config.target_sensitivity
            )
            for k in range(len(FINDINGS))
        ]
    )
    confusion = confusion_table(y_test, p_test, thresholds, FINDINGS)
    metrics = {
        "test": split_metrics(y_test, p_test),
        "val": split_metrics(y_val, p_val),
        "threshold_policy": config.threshold_policy,
        "test_at_val_thresholds": {
            r.finding: {
                "threshold": round(float(r.threshold), 6),
                "TP": int(r.TP),
                "FP": int(r.FP),
                "FN": int(r.FN),
                "TN": int(r.TN),
                "sensitivity": _num(r.sensitivity),
                "specificity": _num(r.specificity),
                "PPV": _num(r.PPV),
            }
            for r in confusion.itertuples()
        },
    }
    return Evaluation(
        metrics=metrics,
        thresholds={n: float(t) for n, t in zip(FINDINGS, thresholds, strict=True)},
        confusion=confusion,
        roc=roc_table(y_test, p_test, FINDINGS),
        pr=pr_table(y_test, p_test, FINDINGS),
    )


def confusion_markdown(table: pd.DataFrame, title: str) -> str:
    """The TP/FP/FN/TN table as markdown, one finding per row."""
    lines = [
        f"# {title}",
        "",
        "| finding | threshold | positives | TP | FP | FN | TN | sensitivity | specificity | PPV |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.finding} | {r.threshold:.3f} | {r.positives} | {r.TP} | {r.FP} | {r.FN} | "
            f"{r.TN} | {_pct(r.sensitivity)} | {_pct(r.specificity)} | {_pct(r.PPV)} |"
        )
    return "\n".join(lines) + "\n"


def _num(v) -> float | None:
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None


def _pct(v) -> str:
    return f"{100 * v:.1f}%" if np.isfinite(v) else "n/a"
