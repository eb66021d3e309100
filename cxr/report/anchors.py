"""Published mean AUROCs on ChestX-ray14, each with the split it was measured on.

Numbers from different splits are not comparable: a random split puts images
of more patients (and easier follow-ups) on both sides, and NIH's official
test list holds sicker patients with more findings per image. The report
shows each anchor beside its split and ours beside our split.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Anchor:
    name: str
    mean_auroc: float
    split: str  # "official" or "patient" (random patient-level split)
    note: str


ANCHORS = (
    Anchor(
        "Wang et al. 2017 (ChestX-ray8, ResNet-50)",
        0.745,
        "official",
        "the data set's own paper, official train_val/test lists",
    ),
    Anchor(
        "Best published single DenseNet-121",
        0.822,
        "official",
        "official test list, one model, no ensembling",
    ),
    Anchor(
        "CheXNet (Rajpurkar et al. 2017, DenseNet-121)",
        0.841,
        "patient",
        "random 70/10/20 patient split, not the official lists",
    ),
)

SPLIT_NAMES = {
    "official": "NIH official test list",
    "patient": "random patient-level split",
}
