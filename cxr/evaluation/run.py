"""The evaluate stage's work on a trained model: forward passes, the input guard, every figure.

:func:`evaluate_model` is what ``stages/evaluate.py`` calls between reading
params and writing files: the logits and pooled features of validation and
test, the input guard fitted beside the model (``cxr.evaluation.input_guard``)
and its verdicts, then :func:`cxr.evaluation.evaluate.evaluate` (calibration
and thresholds on validation, every figure with its interval). Nothing here
writes a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from cxr.batches import SplitArrays
from cxr.config import EvaluateConfig
from cxr.device import compute_dtype, precision_name
from cxr.evaluation.evaluate import Evaluation, SplitOutputs, evaluate, prediction_table
from cxr.evaluation.input_guard import fit_split_guard, guard_metrics, logits_and_features
from cxr.evaluation.predict import ForwardPass
from cxr.evaluation.sources import held_out_figures, part, source_figures
from cxr.guard.guard import Guard, Verdict
from cxr.models.checkpoint import ModelRecord
from cxr.models.contract import Classifier

SPLITS = ("val", "test")


@dataclass
class EvaluateRun:
    """What one evaluation of a model produced, for the stage to write."""

    outputs: dict[str, SplitOutputs]  # per split: its index and logits
    verdicts: dict[str, Verdict]  # per split: the input guard's
    guard: Guard
    result: Evaluation  # result.metrics carries the guard's figures under "guard"
    precision: str  # what the forward passes ran in, for the record

    def prediction_tables(self) -> dict[str, pd.DataFrame]:
        """``data/predictions/<split>.parquet``'s tables."""
        return {
            split: prediction_table(
                out.index, self.result.probs[split], split, out.logits, verdict=self.verdicts[split]
            )
            for split, out in self.outputs.items()
        }


def evaluate_model(
    model: Classifier,
    record: ModelRecord,
    processed: str | Path,
    expert: pd.DataFrame,
    config: EvaluateConfig,
    device: torch.device,
    held_out: str = "",
) -> EvaluateRun:
    """Evaluate ``model`` (placed on ``device``) on ``processed``'s validation and test
    splits, the input guard fitted on its training split; ``held_out``: the source no
    training step saw (``ingest.hold_out``)."""
    dtype = compute_dtype(device, record.model_config.precision)
    run = ForwardPass(model, device, dtype, config.batch_size)
    outputs, features, images = {}, {}, {}
    for split in SPLITS:
        data = SplitArrays(processed, split, model.input_views)
        logits, features[split] = logits_and_features(run, data, desc=split)
        outputs[split], images[split] = SplitOutputs(data.index, logits), data.array
    guard = fit_split_guard(
        run, processed, record.preprocess, features["val"], config.guard_false_flag
    )
    verdicts = {s: guard.check(images[s], features[s]) for s in SPLITS}
    result = _evaluate(outputs["val"], outputs["test"], config, expert, held_out)
    result.metrics["guard"] = guard_metrics(guard, verdicts)
    return EvaluateRun(outputs, verdicts, guard, result, precision_name(device, dtype))


def _evaluate(
    val: SplitOutputs,
    test: SplitOutputs,
    config: EvaluateConfig,
    expert: pd.DataFrame,
    held_out: str,
) -> Evaluation:
    """:func:`evaluate` on the sources trained on (every figure of a one-source run), then,
    where the splits hold several sources, each source's figures and the held-out one's."""
    if "source" not in test.index.columns:
        return evaluate(val, test, config, expert)
    held = (test.index.source == held_out).to_numpy()
    result = evaluate(val, part(test, ~held), config, expert)
    result.probs["test"] = result.calibration.apply(test.logits)  # every row's, for the table
    result.metrics["sources"] = source_figures(val, test, config, held_out)
    if held_out:
        result.metrics["held_out"] = held_out_figures(test, held_out, config)
    return result
