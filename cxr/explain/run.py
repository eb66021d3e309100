"""The explain stage's work on a trained model, writing nothing: GradCAM on the test
split's boxed cases, scored (``cxr.explain.explain.localise``), and what the gallery
draws. ``stages/explain.py`` reads params, calls :func:`explain_model` and writes what
it returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cxr.config import ExplainConfig
from cxr.device import compute_dtype, precision_name
from cxr.evaluation.fitted import read_predictions, read_thresholds
from cxr.evaluation.predict import ForwardPass
from cxr.explain.explain import localise
from cxr.explain.gallery import GallerySplit, write_gallery
from cxr.explain.gradcam import gradcam_maps
from cxr.findings import FINDINGS
from cxr.imaging.geometry import boxes_to_array
from cxr.models.checkpoint import ModelRecord
from cxr.models.contract import Classifier
from cxr.views import Views, open_views


@dataclass
class ExplainRun:
    """What explain found of one split: every boxed case's figures, their summary with
    intervals, and what the gallery needs to draw."""

    cases: pd.DataFrame  # one row per (image, finding) with a box, its hits and overlaps
    summary: dict  # reports/localisation.json
    gallery: GallerySplit
    run: ForwardPass
    views: Views
    config: ExplainConfig

    @property
    def precision(self) -> str:
        return precision_name(self.run.device, self.run.dtype)

    def cams_of(self, rows: np.ndarray, c: int) -> np.ndarray:
        """GradCAM maps of the split's ``rows`` for class index ``c``."""
        return gradcam_maps(self.run, self.views.take(rows), np.full(len(rows), c))

    def write_plots(self, folder: Path) -> None:
        """The gallery (an image per class, index.html) and the per-case table, into
        ``folder`` (a temporary one the caller renames)."""
        write_gallery(folder, self.gallery, self.summary, self.cams_of, self.config)
        self.cases.drop(columns=["boxes"]).to_csv(folder / "localisation_cases.csv", index=False)


def explain_model(
    model: Classifier,
    record: ModelRecord,
    files: dict[str, Path],
    config: ExplainConfig,
    device: torch.device,
    split: str = "test",
) -> ExplainRun:
    """Explain ``model`` on ``split``: ``files`` names the ``processed`` folder, the
    ``predictions`` folder and the ``thresholds`` and ``boxes`` files evaluate and
    ingest wrote."""
    run = ForwardPass(
        model, device, compute_dtype(device, record.model_config.precision), config.batch_size
    )
    views, index = open_views(files["processed"], split, model.input_views)
    probs = read_predictions(files["predictions"] / f"{split}.parquet", index, FINDINGS)
    labels = index[list(FINDINGS)].to_numpy()
    thresholds = read_thresholds(files["thresholds"], FINDINGS)
    boxes = boxes_to_array(pd.read_parquet(files["boxes"]), index)
    cases, summary = localise(run, views, index, boxes, config)
    gallery = GallerySplit(split, views.images, index, boxes, probs, labels, thresholds)
    return ExplainRun(cases, {"split": split, **summary}, gallery, run, views, config)
