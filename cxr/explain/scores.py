"""Localisation figures per class and as the mean over classes, with patient-bootstrap intervals.

Every localisation figure is a mean over boxed cases of one per-case value: a
pointing-game hit (0 or 1), an overlap above T (0 or 1), a best IoU, or the
same for the random control (a share of its draws). A class's figure is the
mean over its cases; the headline figure is the mean over classes, so each
finding counts once whatever its number of boxes.

Cases of one patient are correlated, so intervals resample *patients* with
replacement (``cxr.evaluation.bootstrap.resample_counts``); a case weighs as
many times as its patient was drawn. A class none of whose patients was drawn
in a resample has no figure there; the mean of that resample (over a fixed
set of classes) is then undefined. The count of usable resamples is reported
with every interval, and an interval resting on too few is withheld
(``cxr.evaluation.bootstrap.interval``).

Example: two cases of patient A (hits 1, 1) and one of patient B (hit 0), one
class. The figure is 2/3; a resample drawing A twice gives 1, one drawing B
twice gives 0, one drawing each once gives 2/3.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cxr.evaluation.bootstrap import group_codes, interval, resample_counts

#: Why a resample of a localisation figure is undefined.
NOT_DRAWN = "none of a finding's boxed cases was drawn"


def figures_with_intervals(
    values: pd.DataFrame,
    classes: Sequence[str],
    patients: Sequence,
    class_order: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    unit: str = "patient",
) -> dict:
    """Per-case ``values`` (one column per figure) -> per-class and mean figures with intervals.

    Returns ``{"mean": {figure: {value, low, high, unit, usable_resamples, ...}}, "per_class":
    {class: {"cases", "patients", figure: {...}}}}``; classes in ``class_order`` that have
    cases, in that order. ``resamples=0`` gives values without intervals.
    """
    classes = np.asarray(classes)
    present = [c for c in class_order if (classes == c).any()]
    members = [np.flatnonzero(classes == c) for c in present]
    v = values.to_numpy(dtype=np.float64)  # [cases, figures]
    point = np.stack([v[m].mean(0) for m in members]) if present else np.zeros((0, v.shape[1]))
    boot_class = np.full((resamples, len(present), v.shape[1]), np.nan)
    if resamples and len(v):
        codes = group_codes(patients)
        done = 0
        for counts in resample_counts(codes, resamples, seed):
            w = counts[:, codes]  # [b, cases]
            for j, m in enumerate(members):
                total = w[:, m].sum(1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    boot_class[done : done + len(w), j] = (w[:, m] @ v[m]) / total[:, None]
            done += len(w)
    boot_mean = boot_class.mean(1)  # NaN where a class was not drawn

    def entry(value: float, draws: np.ndarray) -> dict:
        out = {"value": round(float(value), 6)}
        if resamples:
            out.update(interval(draws, level, unit, NOT_DRAWN))
        return out

    patient_ids = np.asarray(patients)
    return {
        "mean": {
            f: entry(point[:, k].mean() if present else np.nan, boot_mean[:, k])
            for k, f in enumerate(values.columns)
        },
        "per_class": {
            c: {
                "cases": len(m),
                "patients": int(pd.Series(patient_ids[m]).nunique()),
                **{
                    f: entry(point[j, k], boot_class[:, j, k]) for k, f in enumerate(values.columns)
                },
            }
            for j, (c, m) in enumerate(zip(present, members, strict=True))
        },
    }
