"""Figures per source of a model trained on several (``cxr.external.sources``): each source's
validation and test figures, and the held-out source's drop from the sources trained on.

A source's mean AUROC is over the findings it labels (the others are NaN in its
rows, never negatives). The held-out drop compares like with like: the mean
over the findings both the held-out source's test images and the trained-on
sources' pooled test images define, in each resample of each side's patients
(two independent samples, so the two bootstraps use different seeds).

Example::

    figures = source_figures(val, test, config, held_out="third_hospital")
    figures["third_hospital"]["test"]["mean_auroc"]      # on films no model step saw
    drop = held_out_drop(trained_test, held_test, config)
    drop["drop"], drop["ci"]                              # held-out minus trained-on
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from cxr.config import EvaluateConfig
from cxr.evaluation.bootstrap import bootstrap_scores, interval
from cxr.evaluation.evaluate import SplitOutputs, scored_metrics
from cxr.evaluation.metrics import auroc, rounded
from cxr.findings import FINDINGS

#: The metadata column, with several sources, of what each row's ``patient_id`` identifies.
UNIT = "resampling_unit"
#: Why a resample of the held-out drop is undefined.
NO_SHARED_FINDING = "a shared finding had no positive or no negative among one side's patients"


def part(data: SplitOutputs, rows: np.ndarray) -> SplitOutputs:
    """The rows ``rows`` (a boolean mask) of ``data``."""
    return SplitOutputs(data.index[rows].reset_index(drop=True), data.logits[rows])


def source_figures(
    val: SplitOutputs, test: SplitOutputs, config: EvaluateConfig, held_out: str = ""
) -> dict:
    """Per source (in the order its rows first appear): its role, the findings it labels, and
    its validation and test figures (:func:`scored_metrics`, mean intervals only)."""
    names = pd.unique(pd.concat([val.index.source, test.index.source], ignore_index=True))
    out = {}
    for name in names:
        entry: dict = {"role": "held out" if name == held_out else "trained on"}
        for split, data in (("val", val), ("test", test)):
            rows = (data.index.source == name).to_numpy()
            if not rows.any():
                continue
            mine = part(data, rows)
            entry.setdefault("findings", labelled(mine.labels))
            with warnings.catch_warnings():  # a small source lacking a class is expected
                warnings.simplefilter("ignore", UserWarning)
                entry[split] = scored_metrics(
                    mine.labels, mine.logits, mine.patients, config, False, unit_of(mine)
                )
        out[str(name)] = entry
    return out


def unit_of(data: SplitOutputs) -> str:
    """What the rows' ``patient_id`` identifies: ``patient``, or where a source has no
    patient ids (VinDr-CXR), the image (``resampling_unit``, written by ingest)."""
    if UNIT not in data.index.columns:
        return "patient"
    units = sorted(set(data.index[UNIT].astype(str)))
    return units[0] if len(units) == 1 else " and ".join(units)


def labelled(y: np.ndarray) -> list[str]:
    """The findings a source labels: known in at least one of its images."""
    return [n for n, known in zip(FINDINGS, (~np.isnan(y)).any(0), strict=True) if known]


def held_out_figures(test: SplitOutputs, held_out: str, config: EvaluateConfig) -> dict:
    """The held-out source's test figures (every interval) and its drop."""
    rows = (test.index.source == held_out).to_numpy()
    held = part(test, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        figures = scored_metrics(
            held.labels, held.logits, held.patients, config, unit=unit_of(held)
        )
    return {"source": held_out, "test": figures, **held_out_drop(part(test, ~rows), held, config)}


def held_out_drop(trained: SplitOutputs, held: SplitOutputs, config: EvaluateConfig) -> dict:
    """Held-out minus trained-on mean test AUROC over the findings both define, with an
    interval from independent patient bootstraps of the two sides."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = auroc(trained.labels, trained.logits, FINDINGS)
        b = auroc(held.labels, held.logits, FINDINGS)
    shared = np.isfinite(a) & np.isfinite(b)
    out: dict = {
        "findings": [n for n, s in zip(FINDINGS, shared, strict=True) if s],
        "trained_on_mean_auroc": rounded(a[shared].mean()) if shared.any() else None,
        "held_out_mean_auroc": rounded(b[shared].mean()) if shared.any() else None,
        "drop": rounded(b[shared].mean() - a[shared].mean()) if shared.any() else None,
    }
    if config.bootstrap and shared.any():
        boot_a = bootstrap_scores(trained.labels, trained.logits, trained.patients,
                                  config.bootstrap, config.seed + 1)  # fmt: skip
        boot_b = bootstrap_scores(held.labels, held.logits, held.patients,
                                  config.bootstrap, config.seed)  # fmt: skip
        diff = boot_b.auroc[:, shared].mean(1) - boot_a.auroc[:, shared].mean(1)
        sides = (unit_of(held), unit_of(trained))
        unit = sides[0] if sides[0] == sides[1] else f"{sides[0]} (held out), {sides[1]}"
        out["ci"] = interval(diff, config.confidence, unit, NO_SHARED_FINDING)
    return out
