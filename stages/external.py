"""Stage ``external@N``: score the trained model on one external set of ``external.sets``.

It reads the set's labels in its own layout, finds each image's file, preprocesses
the images with the preprocessing stored in ``best.pt``, and scores them with
the calibration and thresholds evaluate chose on NIH validation. It writes
``data/external/<name>/`` (arrays, predictions, every row left out), the
headline ``metrics/external/<name>.json``, and ``reports/external/<name>.json``
and ``.md`` (every figure; ``external_report`` gathers the sections). Where the set has
boxes (VinDr, RSNA, SIIM), it also scores GradCAM against them with the explain stage's
pointing game and box overlap.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from cxr.atomic import atomic_path, write_json, write_text
from cxr.config import ExplainConfig, ExternalConfig, IngestConfig
from cxr.device import pick_device
from cxr.errors import InputError
from cxr.external.metrics import Scored, scores_of_table
from cxr.external.run import Scoring, score_set
from cxr.external.sources import NIH
from cxr.findings import FINDINGS
from cxr.inference import Predictor
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, named, section, value


def main(
    name: Annotated[str, typer.Argument(help="the set's name in external.sets")],
    params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE,
) -> None:
    """Score the model on the set ``name``; list every row left out, with the reason."""
    all_params = load_params(params)
    config = section(all_params, "external", ExternalConfig)
    pointing = ExplainConfig(  # explain's measures, with this stage's intervals and batch
        tolerance=value(all_params, "explain.tolerance", float),
        box_threshold=value(all_params, "explain.box_threshold", float),
        control_maps=value(all_params, "explain.control_maps", int),
        bootstrap=config.bootstrap, confidence=config.confidence, seed=config.seed,
        batch_size=config.batch_size,
    )  # fmt: skip
    scoring = Scoring(config, pointing, value(all_params, "evaluate.calibration_bins", int),
                      section(all_params, "ingest", IngestConfig))  # fmt: skip
    item = named(config.sets, name, "external.sets")
    t0 = time.perf_counter()
    reference = _nih_test()  # first: a stage run before evaluate stops before any work
    predictor = Predictor.load(paths.MODEL, device=pick_device(config.device))
    if predictor.classes != list(FINDINGS):
        raise InputError(f"{paths.MODEL}: its classes are not the NIH-14: {predictor.classes}")
    with atomic_path(paths.EXTERNAL / item.name) as tmp:
        done = score_set(item, scoring, predictor, reference, tmp, echo=typer.echo)
    write_json(paths.REPORTS / "external" / f"{item.name}.json", done.report())
    write_text(paths.REPORTS / "external" / f"{item.name}.md", done.markdown())
    seconds = round(time.perf_counter() - t0, 1)
    write_json(paths.external_metrics(item.name), done.headline(seconds))
    metrics = done.metrics
    gap = "difference, an NIH re-read" if metrics["origin"] == "nih_reread" else "drop"
    typer.echo(
        f"external {item.name}: {metrics['images']} images, mean AUROC "
        f"{metrics['mean_auroc']} vs NIH test {metrics['nih_test_mean_auroc']} ({gap} "
        f"{metrics['mean_drop']}); {len(done.excluded)} rows left out, listed in "
        f"{paths.EXTERNAL / item.name / 'excluded.csv'}"
    )


def _nih_test() -> Scored:
    path = paths.PREDICTIONS / "test.parquet"
    if not path.is_file():
        raise InputError(f"{path}: missing; the NIH test figures come from evaluate (dvc repro)")
    table = pd.read_parquet(path)
    if "source" in table.columns:  # trained on several sources: NIH's own test images
        table = table[table.source == NIH].reset_index(drop=True)
    return scores_of_table(table)


if __name__ == "__main__":
    run(main)
