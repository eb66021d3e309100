"""Stage ``explain``: GradCAM galleries; pointing game and box overlap against true boxes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from cxr.atomic import atomic_path, write_json, write_text
from cxr.config import ExplainConfig
from cxr.device import compute_dtype, pick_device, precision_name
from cxr.evaluation.fitted import read_predictions, read_thresholds
from cxr.explain.explain import headline, localise
from cxr.explain.gallery import GallerySplit, write_gallery
from cxr.explain.gradcam import gradcam_maps
from cxr.findings import FINDINGS
from cxr.imaging.geometry import boxes_to_array
from cxr.models.checkpoint import load_model
from cxr.numbers import with_interval
from cxr.processed import open_detail, open_split
from cxr.report.localisation import localisation_markdown
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section

SPLIT = "test"


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Write plots/explain/ (a gallery image per class, index.html), reports/localisation.md
    and .json (every figure with its interval) and metrics/explain.json (the headline)."""
    config = section(load_params(params), "explain", ExplainConfig)
    device = pick_device(config.device)
    model, record = load_model(paths.MODEL)
    dtype = compute_dtype(device, record.model_config.precision)
    array, index = open_split(paths.PROCESSED, SPLIT)
    detail = (
        open_detail(paths.PROCESSED, SPLIT, len(array), array.shape[1], required=True)
        if record.model_config.uses_detail
        else None  # the model reads only the array
    )
    probs = read_predictions(paths.PREDICTIONS / f"{SPLIT}.parquet", index, FINDINGS)
    labels = index[list(FINDINGS)].to_numpy()
    thresholds = read_thresholds(paths.THRESHOLDS, FINDINGS)

    boxes = boxes_to_array(pd.read_parquet(paths.BOXES), index)
    typer.echo(f"explain: scoring the boxed cases, {config.bootstrap} patient resamples")
    cases, summary = localise(model, array, index, boxes, config, device, detail, dtype)
    summary = {"split": SPLIT, **summary}

    split = GallerySplit(SPLIT, array, index, boxes, probs, labels, thresholds)

    def cams_of(rows: np.ndarray, c: int) -> np.ndarray:
        rows_detail = None if detail is None else detail[rows]
        classes = np.full(len(rows), c)
        return gradcam_maps(
            model, array[rows], classes, device, config.batch_size, detail=rows_detail, dtype=dtype
        )

    with atomic_path(paths.EXPLAIN_PLOTS) as tmp:
        tmp.mkdir(parents=True)
        write_gallery(tmp, split, summary, cams_of, config)
        cases.drop(columns=["boxes"]).to_csv(tmp / "localisation_cases.csv", index=False)
    write_text(paths.REPORTS / "localisation.md", localisation_markdown(summary))
    write_json(paths.REPORTS / "localisation.json", summary)
    computed = {"split": SPLIT, "precision": precision_name(device, dtype)}
    write_json(paths.metrics_file("explain"), {**computed, **headline(summary)})
    if summary.get("cases"):
        mean = summary["mean"]
        pointing = with_interval(mean["pointing"]["value"], mean["pointing"])
        typer.echo(
            f"explain: pointing game {pointing} over {summary['classes']} classes (random maps "
            f"{mean['random_pointing']['value']:.3f}); gallery in "
            f"{paths.EXPLAIN_PLOTS / 'index.html'}"
        )
    else:
        typer.echo(
            f"explain: no boxes in the {SPLIT} split, no pointing game; "
            f"gallery in {paths.EXPLAIN_PLOTS}"
        )


if __name__ == "__main__":
    run(main)
