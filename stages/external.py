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

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from cxr.atomic import atomic_path, write_json, write_text
from cxr.batches import SplitArrays
from cxr.config import ExplainConfig, ExternalConfig, ExternalSet, PreprocessConfig
from cxr.device import pick_device
from cxr.errors import InputError
from cxr.evaluation.evaluate import prediction_table
from cxr.evaluation.external import (
    Scored,
    external_headline,
    external_metrics,
    scores_of_table,
    unflagged_figures,
)
from cxr.evaluation.input_guard import logits_and_features
from cxr.explain.explain import headline as localisation_headline
from cxr.explain.explain import localise
from cxr.external.formats import FORMATS
from cxr.external.prepare import SPLIT, array_boxes, prepare_set
from cxr.external.sets import locate, read_set
from cxr.findings import FINDINGS
from cxr.inference import Predictor
from cxr.preprocess import reason_counts
from cxr.report.external import set_markdown
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
    bins = value(all_params, "evaluate.calibration_bins", int)
    pointing = ExplainConfig(  # explain's measures, with this stage's intervals and batch
        tolerance=value(all_params, "explain.tolerance", float),
        box_threshold=value(all_params, "explain.box_threshold", float),
        control_maps=value(all_params, "explain.control_maps", int),
        bootstrap=config.bootstrap, confidence=config.confidence, seed=config.seed,
        batch_size=config.batch_size,
    )  # fmt: skip
    item = named(config.sets, name, "external.sets")
    folder = Path(item.folder)
    t0 = time.perf_counter()
    reference = _nih_test()  # first: a stage run before evaluate stops before any work
    labels = read_set(item.format, folder, item.labels, config.uncertain, config.frontal_only,
                      item.name)  # fmt: skip
    form = FORMATS[item.format]
    found, missing = locate(labels.images, folder, by_name=form.unique_names)
    if found.empty:
        raise InputError(
            f"{folder}: none of the {len(labels.images)} images of {item.name} has a file "
            f"there ({_commonest(missing)}); is 'folder' the download's top folder?"
        )
    predictor = Predictor.load(paths.MODEL, device=pick_device(config.device))
    if predictor.classes != list(FINDINGS):
        raise InputError(f"{paths.MODEL}: its classes are not the NIH-14: {predictor.classes}")
    with atomic_path(paths.EXTERNAL / item.name) as tmp:
        index, undecoded = prepare_set(found, folder, tmp, _preprocessing(predictor, config))
        excluded = pd.concat([labels.excluded, missing, undecoded], ignore_index=True)
        excluded.to_csv(tmp / "excluded.csv", index=False)
        if index.empty:
            raise InputError(
                f"{folder}: none of {item.name}'s files decodes ({_commonest(undecoded)}); "
                f"every row is listed in {tmp / 'excluded.csv'}"
            )
        data = SplitArrays(tmp, SPLIT, with_detail=predictor.uses_detail)
        logits, features = logits_and_features(
            predictor.model, data, predictor.device, config.batch_size, item.name, predictor.dtype
        )
        verdict = None if predictor.guard is None else predictor.guard.check(data.array, features)
        table = prediction_table(index, predictor.calibration.apply(logits), SPLIT, logits,
                                 form.resampling_unit, verdict)  # fmt: skip
        table.to_parquet(tmp / "predictions.parquet", index=False)
        boxes = array_boxes(labels.boxes, index, form.box_frame)
        located = (_localise(predictor, data, index, boxes, pointing, form.resampling_unit)
                   if len(boxes) else None)  # fmt: skip
        metrics = external_metrics(
            scores_of_table(table), reference, labels.scored, predictor.thresholds,
            config.bootstrap, config.confidence, config.seed, bins, form.resampling_unit,
            form.origin,
        )  # fmt: skip
        if verdict is not None:
            metrics["guard"] = {**verdict.summary(), **unflagged_figures(
                table, reference, labels.scored, predictor.thresholds, config.bootstrap,
                config.confidence, config.seed, bins, form.resampling_unit, form.origin,
            )}  # fmt: skip
    _write(item, metrics, excluded, located, round(time.perf_counter() - t0, 1), form.note)


def _nih_test() -> Scored:
    path = paths.PREDICTIONS / "test.parquet"
    if not path.is_file():
        raise InputError(f"{path}: missing; the NIH test figures come from evaluate (dvc repro)")
    return scores_of_table(pd.read_parquet(path))


def _commonest(excluded: pd.DataFrame) -> str:
    reasons = excluded.reason.value_counts()
    return f"{reasons.iloc[0]} of them: {reasons.index[0]}" if len(reasons) else "none listed"


def _preprocessing(predictor: Predictor, config: ExternalConfig) -> PreprocessConfig:
    """best.pt's preprocessing, with this stage's workers (and a detail array only for a
    model that reads one)."""
    detail_size = predictor.preprocess.detail_size if predictor.uses_detail else 0
    preprocess = predictor.preprocess
    return dataclasses.replace(preprocess, workers=config.workers, detail_size=detail_size)


def _localise(
    predictor: Predictor,
    data: SplitArrays,
    index: pd.DataFrame,
    boxes: pd.DataFrame,
    config: ExplainConfig,
    unit: str,
) -> dict:
    """The explain stage's pointing game and box overlap on the set's boxed cases."""
    typer.echo(f"external: GradCAM on the boxed cases, {config.bootstrap} {unit} resamples")
    _, summary = localise(predictor.model, data.array, index, boxes, config, predictor.device,
                          data.detail, predictor.dtype, unit)  # fmt: skip
    return {"split": SPLIT, **summary}


def _write(
    item: ExternalSet, metrics: dict, excluded: pd.DataFrame, located: dict | None,
    seconds: float, note: str,
) -> None:  # fmt: skip
    by_reason = reason_counts(excluded.reason) if len(excluded) else {}
    source = f"`{item.folder}` ({item.format} layout)"
    detail = {"name": item.name, "format": item.format, "folder": item.folder, "note": note,
              **metrics, "excluded": len(excluded), "excluded_by_reason": by_reason}  # fmt: skip
    if located is not None:
        detail["localisation"] = located
    write_json(paths.REPORTS / "external" / f"{item.name}.json", detail)
    write_text(
        paths.REPORTS / "external" / f"{item.name}.md",
        set_markdown(item.name, source, metrics, by_reason, located, note),
    )
    headline = {**external_headline(metrics), "excluded": len(excluded), "seconds": seconds}
    if located is not None:
        headline["localisation"] = localisation_headline(located)
    write_json(paths.external_metrics(item.name), headline)
    gap = "difference, an NIH re-read" if metrics["origin"] == "nih_reread" else "drop"
    typer.echo(
        f"external {item.name}: {metrics['images']} images, mean AUROC "
        f"{metrics['mean_auroc']} vs NIH test {metrics['nih_test_mean_auroc']} ({gap} "
        f"{metrics['mean_drop']}); {len(excluded)} rows left out, listed in "
        f"{paths.EXTERNAL / item.name / 'excluded.csv'}"
    )


if __name__ == "__main__":
    run(main)
