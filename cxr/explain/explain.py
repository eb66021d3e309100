"""The explain stage's work: the pointing game per class, and the gallery selections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from cxr.explain.gradcam import gradcam_maps
from cxr.explain.pointing import pointing_hit, random_control
from cxr.findings import FINDINGS

#: Zhang et al.'s 15-px tolerance on 224-px images, as a share of the image size.
ZHANG_TOLERANCE = 15 / 224


@dataclass(frozen=True)
class ExplainConfig:
    """The ``explain`` section of params.yaml."""

    gallery_per_kind: int = 4  # images per row (TP, FP, FN) of each class's gallery
    tolerance: float = ZHANG_TOLERANCE  # pointing-game tolerance, share of the image size
    batch_size: int = 32
    seed: int = 0  # of the random-map control
    device: str = "auto"


def box_cases(boxes: pd.DataFrame) -> pd.DataFrame:
    """One case per (array row, finding) with all its boxes ``[K, 4]`` (from ``boxes_to_array``)."""
    cases = []
    for (row, finding), group in boxes.groupby(["row", "finding"], sort=True):
        cases.append(
            {
                "row": int(row),
                "finding": finding,
                "class_index": FINDINGS.index(finding),
                "boxes": group[["x0", "y0", "x1", "y1"]].to_numpy(dtype=np.float64),
            }
        )
    return pd.DataFrame(cases, columns=["row", "finding", "class_index", "boxes"])


def pointing_game(
    model: nn.Module,
    array: np.ndarray,
    cases: pd.DataFrame,
    config: ExplainConfig,
    device: torch.device,
) -> tuple[pd.DataFrame, dict]:
    """Per-case hits of GradCAM and of the random control; per-class and mean scores."""
    if cases.empty:
        return cases.assign(hit=[], random_hit=[], random_expected=[]), {"cases": 0}
    size = array.shape[1]
    tolerance = config.tolerance * size
    cams = gradcam_maps(
        model,
        array[cases.row.to_numpy()],
        cases.class_index.to_numpy(),
        device,
        config.batch_size,
        desc="pointing game",
    )
    rng = np.random.default_rng(config.seed)
    hits, random_hits, expected = [], [], []
    for cam, boxes in zip(cams, cases.boxes, strict=True):
        hits.append(pointing_hit(cam, boxes, tolerance))
        r_hit, r_exp = random_control(boxes, size, tolerance, rng)
        random_hits.append(r_hit)
        expected.append(r_exp)
    cases = cases.assign(hit=hits, random_hit=random_hits, random_expected=expected)
    per_class = {}
    for name in FINDINGS:
        part = cases[cases.finding == name]
        if len(part):
            per_class[name] = {
                "cases": len(part),
                "pointing": round(float(part.hit.mean()), 4),
                "random": round(float(part.random_hit.mean()), 4),
                "random_expected": round(float(part.random_expected.mean()), 4),
            }
    scores = np.array([v["pointing"] for v in per_class.values()])
    controls = np.array([v["random_expected"] for v in per_class.values()])
    summary = {
        "cases": len(cases),
        "classes": len(per_class),
        "tolerance_px": round(tolerance, 3),
        "mean_pointing": round(float(scores.mean()), 4),
        "mean_random": round(float(np.mean([v["random"] for v in per_class.values()])), 4),
        "mean_random_expected": round(float(controls.mean()), 4),
        "per_class": per_class,
    }
    return cases, summary


def gallery_rows(
    probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray, k: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per class, the rows of the k most confident TP, FP and FN at the given thresholds."""
    out = {}
    for c, name in enumerate(FINDINGS):
        p, y = probs[:, c], labels[:, c].astype(bool)
        above = p >= thresholds[c]
        tp = np.flatnonzero(above & y)
        fp = np.flatnonzero(above & ~y)
        fn = np.flatnonzero(~above & y)
        out[name] = {
            "true positives": tp[np.argsort(-p[tp], kind="stable")][:k],
            "false positives": fp[np.argsort(-p[fp], kind="stable")][:k],
            "false negatives": fn[np.argsort(p[fn], kind="stable")][:k],
        }
    return out
