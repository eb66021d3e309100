"""Scoring against Google's 2019 radiologist labels instead of NIH's text-mined ones.

The adjudicated findings do not match the 14 heads one to one, so each is
scored by the maximum probability of the heads that name it (and compared
with the NIH label formed the same way, by "any of"):

- Pneumothorax: the Pneumothorax head.
- Nodule or mass: the larger of the Nodule and Mass heads.
- Airspace opacity: the largest of the consolidation-like heads,
  Consolidation, Pneumonia and Infiltration (Majkowska et al. define airspace
  opacity as consolidation-type parenchymal opacity; NIH's "Infiltration" is
  the text-mined name most reports use for it). Atelectasis and Edema are left
  out: they are separate radiological entities with their own heads.
- Fracture: no head predicts it; it is listed as not evaluated.

Only images that are both in the file's ``test`` set and in this run's test
split are used: with a random patient split some of them fall in train or
validation, and those are counted, not scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxr.evaluation.bootstrap import bootstrap_scores, interval
from cxr.evaluation.metrics import auroc, rounded
from cxr.findings import FINDINGS

#: Expert finding -> the heads whose maximum scores it (and whose NIH labels are OR-ed).
EXPERT_HEADS: dict[str, tuple[str, ...]] = {
    "Pneumothorax": ("Pneumothorax",),
    "Nodule or mass": ("Nodule", "Mass"),
    "Airspace opacity": ("Consolidation", "Pneumonia", "Infiltration"),
}
NOT_EVALUATED = {"Fracture": "no head predicts fractures"}


def expert_scores(probs: np.ndarray) -> np.ndarray:
    """Per image the score of each expert finding ``[N, 3]`` (order of :data:`EXPERT_HEADS`)."""
    return np.stack(
        [probs[:, [FINDINGS.index(h) for h in heads]].max(1) for heads in EXPERT_HEADS.values()],
        axis=1,
    )


def nih_equivalents(labels: np.ndarray) -> np.ndarray:
    """NIH's text-mined labels folded onto the expert findings by "any of", ``[N, 3]``."""
    return np.stack(
        [labels[:, [FINDINGS.index(h) for h in heads]].max(1) for heads in EXPERT_HEADS.values()],
        axis=1,
    )


def expert_evaluation(
    expert: pd.DataFrame,
    test_index: pd.DataFrame,
    probs: np.ndarray,
    resamples: int,
    seed: int,
    level: float,
) -> dict:
    """AUROC against the radiologists (with a patient-level interval) and against NIH labels.

    ``expert`` is the ingested table of the file's ``test`` images, with this
    run's ``split`` of each image.
    """
    if expert is None or expert.empty:
        return {"available": False, "reason": "no google2019_nih-chest-xray-labels file"}
    position = pd.Series(np.arange(len(test_index)), index=test_index.image_id.to_numpy())
    usable = expert[(expert.split == "test") & expert.image_id.isin(position.index)]
    outside = expert[~expert.index.isin(usable.index)]
    result = {
        "available": True,
        "file_test_images": len(expert),
        "images": len(usable),
        "patients": int(usable.patient_id.nunique()),
        "not_in_test_split": {
            (k or "not ingested"): int(v) for k, v in sorted(outside.split.value_counts().items())
        },
        "not_evaluated": NOT_EVALUATED,
        "heads": {k: list(v) for k, v in EXPERT_HEADS.items()},
    }
    if usable.empty:
        return result
    rows = position[usable.image_id].to_numpy()
    names = list(EXPERT_HEADS)
    y_expert = usable[names].to_numpy().astype(np.uint8)
    y_nih = nih_equivalents(test_index[list(FINDINGS)].to_numpy()[rows])
    scores = expert_scores(probs[rows])
    point_expert = auroc(y_expert, scores, names)
    point_nih = auroc(y_nih, scores, names)
    boot = (
        bootstrap_scores(y_expert, scores, usable.patient_id.to_numpy(), resamples, seed)
        if resamples
        else None
    )
    findings = {}
    for k, name in enumerate(names):
        e, n = y_expert[:, k].astype(bool), y_nih[:, k].astype(bool)
        findings[name] = {
            "expert_positives": int(e.sum()),
            "nih_positives": int(n.sum()),
            "auroc_vs_expert": rounded(point_expert[k]),
            **({"ci": interval(boot.auroc[:, k], level)} if boot is not None else {}),
            "auroc_vs_nih": rounded(point_nih[k]),
            # How well the text-mined label agrees with the radiologists.
            "nih_label_sensitivity": rounded(n[e].mean() if e.any() else np.nan),
            "nih_label_specificity": rounded((~n[~e]).mean() if (~e).any() else np.nan),
        }
    result["findings"] = findings
    return result
