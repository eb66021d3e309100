"""Paired comparison of two models on the same images: the difference in AUROC with its interval.

Both models are scored on the same patient resamples, so what they share
(hard patients, easy patients) cancels, and the interval of the difference is
much narrower than either model's own interval. AUROC ranks each model's raw
logits where the tables hold them (``rank_scores``).

The two-sided bootstrap p-value counts the usable resamples on the far side of
zero, k of B, and is ``min(1, 2 (k + 1) / (B + 1))``: never 0, since B
resamples cannot show a p-value below 1/B. The 14 per-finding tests are one
family, so each also gets Holm's step-down adjusted p-value (``p_value_holm``),
which controls the chance of any false finding-level claim at the nominal
level; the mean's test is the one pre-specified and is not adjusted.

Example (Holm): p-values 0.01, 0.04, 0.03 over three findings adjust to
0.03 (0.01 x 3), 0.06 (0.03 x 2) and 0.06 (0.04 x 1, raised to the one
before it, so adjusted values keep the raw order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.errors import InputError
from cxr.evaluation.bootstrap import bootstrap_scores, interval, row_mean
from cxr.evaluation.evaluate import rank_scores
from cxr.evaluation.metrics import auroc, nan_mean, rounded
from cxr.findings import FINDINGS

#: The split of an external set's prediction table (``cxr.external.prepare.SPLIT``).
EXTERNAL = "external"


def bootstrap_p_value(d: np.ndarray) -> float:
    """Two-sided p-value of resampled differences ``d`` (NaN: undefined, skipped):
    ``min(1, 2 (k + 1) / (B + 1))``, k the usable resamples on the far side of zero."""
    defined = d[np.isfinite(d)]
    if not len(defined):
        return float("nan")
    far = min(int((defined <= 0).sum()), int((defined >= 0).sum()))
    return min(1.0, 2 * (far + 1) / (len(defined) + 1))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN, and is not counted in the family).

    The i-th smallest of m p-values is multiplied by m - i + 1, then made no smaller
    than the adjusted value before it, and capped at 1 (Holm 1979). Written here rather
    than taking statsmodels as a dependency for one formula; tests check it against
    hand-worked cases.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    known = np.flatnonzero(np.isfinite(p))
    order = known[np.argsort(p[known], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, p[order] * (m - np.arange(m)))
    out[order] = np.maximum.accumulate(scaled) if m else scaled
    return out


def _difference(a: np.ndarray, b: np.ndarray, point: float, level: float, unit: str) -> dict:
    """The point difference, its interval and p-value; neither where the interval is
    withheld (the usable resamples are then a biased subset for the test too)."""
    d = b - a
    ci = interval(d, level, unit)
    p = None if ci.get("withheld") else rounded(bootstrap_p_value(d))
    return {"difference": rounded(point), **ci, "p_value": p}


def paired_difference(
    y: np.ndarray,
    p_a: np.ndarray,
    p_b: np.ndarray,
    patients: np.ndarray,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    unit: str = "patient",
) -> dict:
    """AUROC of B minus A: for the mean and per class, with paired bootstrap intervals and
    p-values, Holm-adjusted over the classes; ``unit``: what ``patients`` identifies."""
    roc_a, roc_b = auroc(y, p_a, FINDINGS), auroc(y, p_b, FINDINGS)
    boot_a = bootstrap_scores(y, p_a, patients, resamples, seed)
    boot_b = bootstrap_scores(y, p_b, patients, resamples, seed)  # same seed: same resamples
    # The means cover the classes both models score (a peer may lack some outputs).
    both = np.isfinite(roc_a) & np.isfinite(roc_b)
    mean_a, mean_b = nan_mean(roc_a[both]), nan_mean(roc_b[both])
    per_class = {
        name: {"auroc_a": rounded(roc_a[k]), "auroc_b": rounded(roc_b[k]),
               **_difference(boot_a.auroc[:, k], boot_b.auroc[:, k], roc_b[k] - roc_a[k],
                             level, unit)}
        for k, name in enumerate(FINDINGS)
    }  # fmt: skip
    raw = np.array([np.nan if d["p_value"] is None else d["p_value"] for d in per_class.values()])
    for d, adjusted in zip(per_class.values(), holm(raw), strict=True):
        d["p_value_holm"] = rounded(adjusted)
    return {
        "images": len(y),
        "patients" if unit == "patient" else "patient_ids": int(pd.Series(patients).nunique()),
        "resamples": resamples,
        "level": level,
        "unit": unit,
        "classes_in_mean": [n for n, b in zip(FINDINGS, both, strict=True) if b],
        "mean_auroc_a": rounded(mean_a),
        "mean_auroc_b": rounded(mean_b),
        "mean_auroc": _difference(row_mean(boot_a.auroc[:, both]),
                                  row_mean(boot_b.auroc[:, both]), mean_b - mean_a, level, unit),
        "multiple_testing": f"per-finding p-values: Holm over the {int(np.isfinite(raw).sum())} "
        "findings with one (p_value_holm); the mean's is not adjusted",
        "auroc": per_class,
    }  # fmt: skip


def align_predictions(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two prediction tables on the same images in the same order, labels checked equal."""
    for name, table in (("A", a), ("B", b)):
        absent = [c for c in ("image_id", "patient_id", *FINDINGS) if c not in table]
        absent += [f"p_{n}" for n in FINDINGS if f"p_{n}" not in table]
        if absent:
            raise InputError(f"prediction table {name} lacks columns {absent[:5]}")
        if table.image_id.duplicated().any():
            raise InputError(f"prediction table {name} lists an image twice")
    only_a = sorted(set(a.image_id) - set(b.image_id))
    only_b = sorted(set(b.image_id) - set(a.image_id))
    if only_a or only_b:
        raise InputError(
            f"the tables cover different images ({len(only_a)} only in A, e.g. {only_a[:3]}; "
            f"{len(only_b)} only in B, e.g. {only_b[:3]}): compare runs on the same split"
        )
    b = b.set_index("image_id").loc[a.image_id].reset_index()
    la, lb = (t[list(FINDINGS)].to_numpy(np.float64) for t in (a, b))
    differ = ~((la == lb) | (np.isnan(la) & np.isnan(lb))).all(1)  # NaN: unknown in both
    if differ.any():
        raise InputError(
            f"{int(differ.sum())} images have different labels in the two tables, e.g. "
            f"{a.image_id[differ].tolist()[:3]}: were they made from different label files?"
        )
    return a, b


def read_prediction_table(path: Path, split: str) -> pd.DataFrame:
    """A prediction table, or ``<split>.parquet`` inside a predictions folder (an external
    set's folder: its ``predictions.parquet``); split checked."""
    if path.is_dir():
        path = path / ("predictions.parquet" if split == EXTERNAL else f"{split}.parquet")
    if not path.is_file():
        if split == EXTERNAL:
            hint = "the external stage writes data/external/<name>/predictions.parquet"
        elif (path.parent / "predictions.parquet").is_file():
            hint = "an external set's folder: add --external"
        else:
            hint = f"evaluate writes data/predictions/{split}.parquet"
        raise InputError(f"{path}: no such prediction table ({hint})")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as err:  # pyarrow and pandas raise many types for a bad file
        raise InputError(f"{path}: not a readable prediction table ({err})") from None
    if "split" not in frame:
        raise InputError(
            f"{path}: the table does not say which split it holds (no 'split' column; "
            "tables from before this check lack it): rerun evaluate (`dvc repro evaluate`)"
        )
    found = sorted(set(frame["split"].astype(str)))
    if found != [split]:
        hint = {
            "val": "pass the validation tables (data/predictions/val.parquet) to choose, "
            "add --test for the final report, or --external for an external set's",
            "test": "--test compares test tables only",
        }.get(split, "--external compares external sets' tables (data/external/<name>) only")
        raise InputError(f"{path}: holds the {', '.join(found)} split, not {split}: {hint}")
    return frame


def compare_tables(
    a: pd.DataFrame, b: pd.DataFrame, resamples: int, seed: int, level: float
) -> dict:
    """:func:`paired_difference` (B - A) of two prediction tables of the same images, each
    ranked by :func:`~cxr.evaluation.evaluate.rank_scores`, resampling what the tables'
    ``resampling_unit`` says their ``patient_id`` is (``patient`` for older tables)."""
    left, right = align_predictions(a, b)
    y = left[list(FINDINGS)].to_numpy()
    units = {str(u) for t in (a, b) for u in t.get("resampling_unit", pd.Series(["patient"]))}
    if len(units) > 1:
        raise InputError(f"the tables resample different units ({sorted(units)}): not one set")
    unit = units.pop()
    return paired_difference(y, rank_scores(left), rank_scores(right),
                             left.patient_id.to_numpy(), resamples, seed, level, unit)  # fmt: skip
