"""Stage ``evaluate``: predictions on validation and test, metrics with intervals, calibration,
thresholds, curves, subgroups, expert labels, the evaluation report and the model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from cxr.atomic import atomic_path, write_json, write_text
from cxr.batches import SplitArrays
from cxr.config import EvaluateConfig
from cxr.device import compute_dtype, pick_device, place, precision_name
from cxr.evaluation.evaluate import (
    SplitOutputs,
    evaluate,
    headline,
    prediction_table,
)
from cxr.evaluation.fitted import write_fitted
from cxr.evaluation.input_guard import fit_split_guard, guard_metrics, logits_and_features
from cxr.models.checkpoint import load_model
from cxr.numbers import with_interval
from cxr.report.evaluation import evaluation_markdown
from cxr.report.markdown import confusion_markdown
from cxr.report.model_card import model_card_markdown
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section, value


def data_source(raw_dir: str) -> str:
    """How the report names the data: the demo phantoms or a user's NIH-layout folder."""
    if Path(raw_dir) == paths.DEMO_DIR:
        return f"synthetic demo data set (`{raw_dir}`, docs/demo-data.md)"
    return f"NIH-layout folder `{raw_dir}`"


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Write predictions, thresholds, calibration, plots, reports (with every figure in
    reports/evaluation.json) and the headline metrics/eval.json."""
    all_params = load_params(params)
    config = section(all_params, "evaluate", EvaluateConfig)
    source = data_source(value(all_params, "ingest.raw_dir", str))
    device = pick_device(config.device)
    model, record = load_model(paths.MODEL)
    place(model, device)
    dtype = compute_dtype(device, record.model_config.precision)
    outputs, features, images = {}, {}, {}
    for split in ("val", "test"):
        data = SplitArrays(paths.PROCESSED, split, with_detail=record.model_config.uses_detail)
        logits, features[split] = logits_and_features(
            model, data, device, config.batch_size, desc=split, dtype=dtype
        )
        outputs[split], images[split] = SplitOutputs(data.index, logits), data.array
    typer.echo("evaluate: fitting the input guard on the training split ...")
    guard = fit_split_guard(
        model, paths.PROCESSED, record.preprocess, features["val"], config.guard_false_flag,
        device, config.batch_size, dtype,
    )  # fmt: skip
    verdicts = {s: guard.check(images[s], features[s]) for s in outputs}
    expert = pd.read_parquet(paths.EXPERT_LABELS)
    typer.echo(f"evaluate: bootstrap of {config.bootstrap} patient resamples ...")
    result = evaluate(outputs["val"], outputs["test"], config, expert)
    result.metrics["guard"] = guard_metrics(guard, verdicts)

    for split, out in outputs.items():
        with atomic_path(paths.PREDICTIONS / f"{split}.parquet") as tmp:
            table = prediction_table(
                out.index, result.probs[split], split, out.logits, verdict=verdicts[split]
            )
            table.to_parquet(tmp, index=False)
    write_fitted(
        paths.THRESHOLDS, paths.CALIBRATION, config.threshold_policy, result.thresholds,
        result.calibration,
    )  # fmt: skip
    guard.save(paths.GUARD)
    for name, frame in (
        ("roc", result.roc),
        ("pr", result.pr),
        ("calibration", result.reliability),
    ):
        with atomic_path(paths.EVAL_PLOTS / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    with atomic_path(paths.REPORTS / "test_confusion.csv") as tmp:
        result.confusion.to_csv(tmp, index=False)
    write_text(
        paths.REPORTS / "test_confusion.md",
        confusion_markdown(
            result.confusion,
            f"Test split at thresholds chosen on validation ({config.threshold_policy})",
        ),
    )
    ingest = json.loads(paths.metrics_file("ingest").read_text())
    write_text(
        paths.REPORTS / "evaluation.md",
        evaluation_markdown(result.metrics, ingest, record, source),
    )
    write_text(
        paths.REPORTS / "model_card.md",
        model_card_markdown(result.metrics, ingest, record, source),
    )
    computed = {"model_epoch": record.epoch, "precision": precision_name(device, dtype)}
    detail = {**computed, **result.metrics}
    write_json(paths.REPORTS / "evaluation.json", detail)
    write_json(paths.metrics_file("eval"), {**computed, **headline(detail)})
    test = result.metrics["test"]
    typer.echo(
        f"evaluate: test mean AUROC "
        f"{with_interval(test['mean_auroc'], test.get('ci', {}).get('mean_auroc'), 4)}, "
        f"mean AUPRC {test['mean_auprc']:.4f}; reports/evaluation.md, reports/model_card.md"
    )


if __name__ == "__main__":
    run(main)
