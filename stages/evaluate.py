"""Stage ``evaluate``: predictions on validation and test, metrics with intervals, calibration,
thresholds, curves, subgroups, expert labels, the evaluation report and the model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from cxr.atomic import atomic_path, write_json, write_text
from cxr.config import EvaluateConfig
from cxr.device import pick_device, place
from cxr.evaluation.evaluate import Evaluation, headline
from cxr.evaluation.fitted import write_fitted
from cxr.evaluation.run import evaluate_model
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
    """Write predictions, thresholds, calibration, the input guard, plots, reports (with
    every figure in reports/evaluation.json) and the headline metrics/eval.json."""
    all_params = load_params(params)
    config = section(all_params, "evaluate", EvaluateConfig)
    source = data_source(value(all_params, "ingest.raw_dir", str))
    device = pick_device(config.device)
    model, record = load_model(paths.MODEL)
    place(model, device)
    typer.echo(f"evaluate: the input guard, then a bootstrap of {config.bootstrap} resamples")
    done = evaluate_model(model, record, paths.PROCESSED, pd.read_parquet(paths.EXPERT_LABELS),
                          config, device, value(all_params, "ingest.hold_out", str))  # fmt: skip
    result = done.result
    for split, table in done.prediction_tables().items():
        with atomic_path(paths.PREDICTIONS / f"{split}.parquet") as tmp:
            table.to_parquet(tmp, index=False)
    write_fitted(paths.THRESHOLDS, paths.CALIBRATION, config.threshold_policy,
                 result.thresholds, result.calibration)  # fmt: skip
    done.guard.save(paths.GUARD)
    _write_tables(result, config.threshold_policy)
    ingest = json.loads(paths.metrics_file("ingest").read_text())
    for name, write in (("evaluation", evaluation_markdown), ("model_card", model_card_markdown)):
        write_text(paths.REPORTS / f"{name}.md", write(result.metrics, ingest, record, source))
    report = {"model_epoch": record.epoch, "precision": done.precision, **result.metrics}
    write_json(paths.REPORTS / "evaluation.json", report)
    write_json(paths.metrics_file("eval"), {**{k: report[k] for k in ("model_epoch", "precision")},
                                            **headline(report)})  # fmt: skip
    test = result.metrics["test"]
    typer.echo(
        f"evaluate: test mean AUROC "
        f"{with_interval(test['mean_auroc'], test.get('ci', {}).get('mean_auroc'), 4)}, "
        f"mean AUPRC {test['mean_auprc']:.4f}; reports/evaluation.md, reports/model_card.md"
    )


def _write_tables(result: Evaluation, policy: str) -> None:
    """The curves (plots/eval/) and the test confusion table at the validation thresholds."""
    for name, frame in (("roc", result.roc), ("pr", result.pr),
                        ("calibration", result.reliability)):  # fmt: skip
        with atomic_path(paths.EVAL_PLOTS / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    with atomic_path(paths.REPORTS / "test_confusion.csv") as tmp:
        result.confusion.to_csv(tmp, index=False)
    title = f"Test split at thresholds chosen on validation ({policy})"
    write_text(paths.REPORTS / "test_confusion.md", confusion_markdown(result.confusion, title))


if __name__ == "__main__":
    run(main)
