"""The explain stage's work: GradCAM on boxed cases, pointing game and box overlap with
patient-bootstrap intervals and random-map controls (the galleries: ``cxr.explain.gallery``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxr.config import ExplainConfig
from cxr.evaluation.predict import ForwardPass
from cxr.explain.gradcam import cam_grids, fuse, gradcam_maps, has_local_map, local_maps
from cxr.explain.localisation import OVERLAP_THRESHOLDS, best_overlaps, heatmap_boxes, random_map
from cxr.explain.pointing import near_box_mask, pointing_hits
from cxr.explain.scores import figures_with_intervals
from cxr.findings import FINDINGS
from cxr.views import Views


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
    run: ForwardPass, views: Views, cases: pd.DataFrame, local: bool = False
) -> np.ndarray:
    """GradCAM map ``[N, S, S]`` of every boxed case of a split's ``views``, for its own
    finding; ``local``: the local path's map in the image frame (``local_maps``) instead."""
    if cases.empty:
        return np.zeros((0, *views.images.shape[1:]), dtype=np.float32)
    chosen = views.take(cases.row.to_numpy())
    classes = cases.class_index.to_numpy()
    if local:
        return local_maps(run, chosen, classes)
    return gradcam_maps(run, chosen, classes, desc="GradCAM on boxed cases")


def map_figures() -> list[str]:
    """What is scored of one map: the pointing hit, each IoBB and IoU hit, the best IoU."""
    ts = [f"{t:g}" for t in OVERLAP_THRESHOLDS]
    return ["pointing", *[f"iobb_{t}" for t in ts], *[f"iou_{t}" for t in ts], "mean_iou"]


def figure_names(fused: bool = False) -> list[str]:
    """The localisation figures, in report order: GradCAM, its control, and their gap;
    with ``fused``, then the map fused with the local path's, and its gain over GradCAM's."""
    model = map_figures()
    names = [*model, *[f"random_{f}" for f in model], "pointing_gain", "mean_iou_gain"]
    if fused:
        names += [*[f"fused_{f}" for f in model], "fused_pointing_gain", "fused_mean_iou_gain"]
    return names


def case_values(
    cams: np.ndarray,
    cases: pd.DataFrame,
    config: ExplainConfig,
    grids: list[int],
    fused: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per boxed case, the value of every figure of :func:`figure_names` (columns).

    GradCAM: the pointing hit, whether its best box overlaps a true box by more
    than each T (IoBB and IoU), and the best IoU. Control: the same averaged over
    ``config.control_maps`` random maps as coarse as the CAM (``grids``, from
    ``cam_grids``). Gains: GradCAM minus control, so their intervals are paired.
    ``fused`` (the maps fused with the local path's): the same figures, and its gain
    over GradCAM's on the same case.
    """
    size = cams.shape[1] if len(cams) else 0
    tolerance = config.tolerance * size
    rng = np.random.default_rng(config.seed)
    rows = []
    for i, (cam, boxes) in enumerate(zip(cams, cases.boxes, strict=True)):
        mask = near_box_mask(boxes, size, tolerance)
        controls = np.stack([random_map(size, grids, rng) for _ in range(config.control_maps)])
        row = _scores(cam[None], boxes, mask, config.box_threshold)
        row |= _scores(controls, boxes, mask, config.box_threshold, "random_")
        row["pointing_gain"] = row["pointing"] - row["random_pointing"]
        row["mean_iou_gain"] = row["mean_iou"] - row["random_mean_iou"]
        if fused is not None:
            row |= _scores(fused[i][None], boxes, mask, config.box_threshold, "fused_")
            row["fused_pointing_gain"] = row["fused_pointing"] - row["pointing"]
            row["fused_mean_iou_gain"] = row["fused_mean_iou"] - row["mean_iou"]
        rows.append(row)
    return pd.DataFrame(rows, columns=figure_names(fused is not None), dtype=np.float64)


def _scores(
    maps: np.ndarray, boxes: np.ndarray, mask: np.ndarray, threshold: float, prefix: str = ""
) -> dict[str, float]:
    """:func:`map_figures` of ``maps`` ``[M, S, S]`` against one case's true ``boxes``, each
    averaged over the M maps."""
    overlaps = np.array([best_overlaps(heatmap_boxes(m, threshold), boxes) for m in maps])
    row = {f"{prefix}pointing": pointing_hits(maps, mask).mean()}
    for t in OVERLAP_THRESHOLDS:
        row[f"{prefix}iobb_{t:g}"] = (overlaps[:, 0] > t).mean()
    for t in OVERLAP_THRESHOLDS:
        row[f"{prefix}iou_{t:g}"] = (overlaps[:, 1] > t).mean()
    row[f"{prefix}mean_iou"] = overlaps[:, 1].mean()
    return row


def localisation(
    cams: np.ndarray,
    cases: pd.DataFrame,
    patients: np.ndarray,
    config: ExplainConfig,
    grids: list[int],
    fused: np.ndarray | None = None,
    unit: str = "patient",
) -> tuple[pd.DataFrame, dict]:
    """Score every boxed case; summarise per class and as the mean, with patient intervals.

    ``patients`` holds the patient of each case (``unit``: what those ids are, ``image``
    for a set without patient ids); ``fused`` the maps fused with the
    local path's, for a model that has one (scored beside GradCAM's on the same
    resamples). Returns the cases with their per-case values and the summary
    written to ``reports/localisation.json``.
    """
    values = case_values(cams, cases, config, grids, fused)
    size = cams.shape[1] if len(cams) else 0
    summary = {
        "cases": len(cases),
        "patients": int(pd.Series(patients).nunique()),
        "tolerance_px": round(config.tolerance * size, 3),
        "tolerance_shape": "disk",
        "box_threshold": config.box_threshold,
        "control": {"maps_per_case": config.control_maps, "cam_grids": grids, "seed": config.seed},
        "ci": {"level": config.confidence, "resamples": config.bootstrap, "unit": unit},
        "fused": fused is not None,
    }
    if cases.empty:
        return cases.assign(**{c: [] for c in values.columns}), summary
    summary |= figures_with_intervals(
        values,
        cases.finding.to_numpy(),
        patients,
        FINDINGS,
        config.bootstrap,
        config.seed,
        config.confidence,
        unit,
    )
    summary["classes"] = len(summary["per_class"])
    return pd.concat([cases.reset_index(drop=True), values], axis=1), summary


def localise(
    run: ForwardPass,
    views: Views,
    index: pd.DataFrame,
    boxes: pd.DataFrame,
    config: ExplainConfig,
    unit: str = "patient",
) -> tuple[pd.DataFrame, dict]:
    """GradCAM (and, for a model with a local path, the fused map) of every boxed case of a
    split, scored by :func:`localisation`: ``views`` and ``index`` as preprocess wrote them,
    ``boxes`` in their pixels (``cxr.imaging.geometry.boxes_to_array``); ``unit``: what
    ``index.patient_id`` identifies."""
    cases = box_cases(boxes)
    cams = case_maps(run, views, cases)
    fused = (
        fuse(cams, case_maps(run, views, cases, local=True))
        if has_local_map(run.model)
        else None  # no local path: GradCAM's map is the whole explanation
    )
    grids = cam_grids(run.model, views.sides)
    patients = index.patient_id.to_numpy()[cases.row.to_numpy()]
    return localisation(cams, cases, patients, config, grids, fused, unit)


def headline(summary: dict) -> dict:
    """The few localisation numbers compared across experiments (``metrics/explain.json``)."""
    out = {"cases": summary["cases"], "patients": summary["patients"]}
    if not summary["cases"]:
        return out
    mean = summary["mean"]

    def with_ci(figure: str) -> dict:
        kept = ("value", "low", "high", "unit", "usable_resamples", "resamples", "withheld")
        return {k: mean[figure][k] for k in kept if k in mean[figure]}

    out |= {
        "pointing": with_ci("pointing"),
        "random_pointing": mean["random_pointing"]["value"],
        "mean_iou": with_ci("mean_iou"),
        "random_mean_iou": mean["random_mean_iou"]["value"],
    }
    if summary.get("fused"):  # with the local path's map: the figures and their paired gain
        out |= {f"fused_{f}": with_ci(f"fused_{f}") for f in ("pointing", "mean_iou")}
        out |= {f"fused_{f}_gain": with_ci(f"fused_{f}_gain") for f in ("pointing", "mean_iou")}
    return out
