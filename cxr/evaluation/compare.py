"""Paired comparison of two models on the same images: the difference in AUROC with its interval.

Both models are scored on the same patient resamples, so what they share
(hard patients, easy patients) cancels, and the interval of the difference is
much narrower than either model's own interval. The two-sided bootstrap
p-value is twice the share of resamples on the far side of zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.errors import InputError
from cxr.evaluation.bootstrap import bootstrap_scores, interval, row_mean
from cxr.evaluation.metrics import auroc, nan_mean, rounded
from cxr.findings import FINDINGS

#: The split of an external set's prediction table (``cxr.external.prepare.SPLIT``).
EXTERNAL = "external"


def _difference(a: np.ndarray, b: np.ndarray, point: float, level: float) -> dict:
    d = b - a
    defined = d[np.isfinite(d)]
    p = 2 * min((defined <= 0).mean(), (defined >= 0).mean()) if len(defined) else np.nan
    return {"difference": rounded(point), **interval(d, level), "p_value": rounded(min(p, 1.0))}


def paired_difference(
    y: np.ndarray,
    p_a: np.ndarray,
    p_b: np.ndarray,
    patients: np.ndarray,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """AUROC of B minus A: for the mean and per class, with paired bootstrap intervals."""
    roc_a, roc_b = auroc(y, p_a, FINDINGS), auroc(y, p_b, FINDINGS)
    boot_a = bootstrap_scores(y, p_a, patients, resamples, seed)
    boot_b = bootstrap_scores(y, p_b, patients, resamples, seed)  # same seed: same resamples
    # The means cover the classes both models score (a peer may lack some outputs).
    both = np.isfinite(roc_a) & np.isfinite(roc_b)
    mean_a, mean_b = nan_mean(roc_a[both]), nan_mean(roc_b[both])
    return {
        "images": len(y),
        "patients": int(pd.Series(patients).nunique()),
        "resamples": resamples,
        "level": level,
        "classes_in_mean": [n for n, b in zip(FINDINGS, both, strict=True) if b],
        "mean_auroc_a": rounded(mean_a),
        "mean_auroc_b": rounded(mean_b),
        "mean_auroc": _difference(
            row_mean(boot_a.auroc[:, both]), row_mean(boot_b.auroc[:, both]), mean_b - mean_a, level
        ),
        "auroc": {
            name: _difference(boot_a.auroc[:, k], boot_b.auroc[:, k], roc_b[k] - roc_a[k], level)
            for k, name in enumerate(FINDINGS)
        },
    }


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
    """:func:`paired_difference` (B - A) of two prediction tables of the same images."""
    left, right = align_predictions(a, b)
    y = left[list(FINDINGS)].to_numpy()
    p_a = left[[f"p_{n}" for n in FINDINGS]].to_numpy()
    p_b = right[[f"p_{n}" for n in FINDINGS]].to_numpy()
    return paired_difference(y, p_a, p_b, left.patient_id.to_numpy(), resamples, seed, level)
