"""Stage ``evaluate``: probabilities on validation and test, metrics, thresholds, curves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import atomic_path, write_json, write_text
from cxr.device import pick_device
from cxr.evaluation.evaluate import EvaluateConfig, confusion_markdown, evaluate, prediction_table
from cxr.evaluation.predict import predict_logits, sigmoid
from cxr.training.checkpoint import load_model
from cxr.training.data import SplitArrays
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Write predictions, metrics/eval.json, ROC/PR curve tables and the test confusion table."""
    config = section(load_params(params), "evaluate", EvaluateConfig)
    device = pick_device(config.device)
    model, info = load_model(paths.MODEL)
    model.to(device)
    tables = {}
    for split in ("val", "test"):
        data = SplitArrays(paths.PROCESSED, split)
        probs = sigmoid(predict_logits(model, data, device, config.batch_size, desc=split))
        tables[split] = (data.labels, probs)
        with atomic_path(paths.PREDICTIONS / f"{split}.parquet") as tmp:
            prediction_table(data.index, probs).to_parquet(tmp, index=False)
    result = evaluate(*tables["val"], *tables["test"], config)
    write_json(
        paths.THRESHOLDS,
        {"policy": config.threshold_policy, "chosen_on": "val", "thresholds": result.thresholds},
    )
    for name, frame in (("roc", result.roc), ("pr", result.pr)):
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
    write_json(paths.metrics_file("eval"), {"model_epoch": info.get("epoch"), **result.metrics})
    test = result.metrics["test"]
    typer.echo(
        f"evaluate: test mean AUROC {test['mean_auroc']:.4f}, mean AUPRC {test['mean_auprc']:.4f}"
    )


if __name__ == "__main__":
    run(main)
