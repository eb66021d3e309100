"""The explain stage's work: GradCAM on boxed cases, pointing game and box overlap, galleries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from cxr.explain.gradcam import gradcam_maps
from cxr.explain.localisation import (
    OVERLAP_THRESHOLDS,
    accuracy,
    best_overlaps,
    heatmap_boxes,
    random_map,
)
from cxr.explain.pointing import pointing_hit, random_control
from cxr.findings import FINDINGS

#: Zhang et al.'s 15-px tolerance on 224-px images, as a share of the image size.
ZHANG_TOLERANCE = 15 / 224


@dataclass(frozen=True)
class ExplainConfig:
    """The ``explain`` section of params.yaml."""

    gallery_per_kind: int = 4  # images per row (TP, FP, FN) of each class's gallery
    tolerance: float = ZHANG_TOLERANCE  # pointing-game tolerance, share of the image size
    box_threshold: float = 0.5  # heat-map share of its maximum boxed for IoBB/IoU (Wang et al.)
    batch_size: int = 32
    seed: int = 0  # of the random-map controls
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


def case_maps(
    model: nn.Module,
    array: np.ndarray,
    cases: pd.DataFrame,
    config: ExplainConfig,
    device: torch.device,
) -> np.ndarray:
    """GradCAM map ``[N, H, W]`` of every boxed case, for its own finding."""
    if cases.empty:
        return np.zeros((0, *array.shape[1:]), dtype=np.float32)
    return gradcam_maps(
        model,
        array[cases.row.to_numpy()],
        cases.class_index.to_numpy(),
        device,
        config.batch_size,
        desc="GradCAM on boxed cases",
    )


def _per_class(cases: pd.DataFrame, score) -> dict:
    return {
        name: {"cases": int((cases.finding == name).sum()), **score(cases[cases.finding == name])}
        for name in FINDINGS
        if (cases.finding == name).any()
    }


def pointing_game(
    cams: np.ndarray, cases: pd.DataFrame, config: ExplainConfig
) -> tuple[pd.DataFrame, dict]:
    """Per-case hits of GradCAM and of the random control; per-class and mean scores."""
    if cases.empty:
        return cases.assign(hit=[], random_hit=[], random_expected=[]), {"cases": 0}
    size = cams.shape[1]
    tolerance = config.tolerance * size
    rng = np.random.default_rng(config.seed)
    hits, random_hits, expected = [], [], []
    for cam, boxes in zip(cams, cases.boxes, strict=True):
        hits.append(pointing_hit(cam, boxes, tolerance))
        r_hit, r_exp = random_control(boxes, size, tolerance, rng)
        random_hits.append(r_hit)
        expected.append(r_exp)
    cases = cases.assign(hit=hits, random_hit=random_hits, random_expected=expected)
    per_class = _per_class(
        cases,
        lambda part: {
            "pointing": round(float(part.hit.mean()), 4),
            "random": round(float(part.random_hit.mean()), 4),
            "random_expected": round(float(part.random_expected.mean()), 4),
        },
    )
    summary = {
        "cases": len(cases),
        "classes": len(per_class),
        "tolerance_px": round(tolerance, 3),
        **{
            f"mean_{key}": round(float(np.mean([v[key] for v in per_class.values()])), 4)
            for key in ("pointing", "random", "random_expected")
        },
        "per_class": per_class,
    }
    return cases, summary


def box_overlap(
    cams: np.ndarray, cases: pd.DataFrame, config: ExplainConfig
) -> tuple[pd.DataFrame, dict]:
    """Wang et al.'s IoBB/IoU accuracies of GradCAM boxes and of smooth random maps.

    Per case the best IoBB and IoU over its predicted and true boxes; per class
    the share of cases above each T and the mean best IoU; means over classes.
    """
    columns = ["iobb", "iou", "random_iobb", "random_iou"]
    if cases.empty:
        return cases.assign(**{c: [] for c in columns}), {"cases": 0}
    rng = np.random.default_rng(config.seed + 1)
    rows = []
    for cam, boxes in zip(cams, cases.boxes, strict=True):
        noise = random_map(cam.shape[0], rng)
        rows.append(
            best_overlaps(heatmap_boxes(cam, config.box_threshold), boxes)
            + best_overlaps(heatmap_boxes(noise, config.box_threshold), boxes)
        )
    cases = cases.assign(**dict(zip(columns, np.array(rows).T, strict=True)))

    def score(part: pd.DataFrame) -> dict:
        return {
            "iobb_accuracy": accuracy(part.iobb),
            "iou_accuracy": accuracy(part.iou),
            "mean_iou": round(float(part.iou.mean()), 4),
            "random_iobb_accuracy": accuracy(part.random_iobb),
            "random_iou_accuracy": accuracy(part.random_iou),
            "random_mean_iou": round(float(part.random_iou.mean()), 4),
        }

    per_class = _per_class(cases, score)
    values = list(per_class.values())

    def mean_of(key: str) -> dict:
        return {
            f"{t:g}": round(float(np.mean([v[key][f"{t:g}"] for v in values])), 4)
            for t in OVERLAP_THRESHOLDS
        }

    summary = {
        "cases": len(cases),
        "classes": len(per_class),
        "box_threshold": config.box_threshold,
        "mean_iobb_accuracy": mean_of("iobb_accuracy"),
        "mean_iou_accuracy": mean_of("iou_accuracy"),
        "mean_iou": round(float(np.mean([v["mean_iou"] for v in values])), 4),
        "mean_random_iobb_accuracy": mean_of("random_iobb_accuracy"),
        "mean_random_iou_accuracy": mean_of("random_iou_accuracy"),
        "mean_random_iou": round(float(np.mean([v["random_mean_iou"] for v in values])), 4),
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
