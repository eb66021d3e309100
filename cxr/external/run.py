"""The external stage's work on one set: read its labels in its own layout, find and
preprocess its films as ``best.pt`` says, score them with the NIH calibration and
thresholds, apply the input guard and, where the set has boxes, score GradCAM on them.

``stages/external.py`` reads params, calls :func:`score_set` with a temporary folder
for the set's arrays and predictions, and writes the reports :class:`SetResult` gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cxr.batches import SplitArrays
from cxr.config import ExplainConfig, ExternalConfig, ExternalSet, IngestConfig, PreprocessConfig
from cxr.errors import InputError
from cxr.evaluation.evaluate import prediction_table
from cxr.evaluation.input_guard import logits_and_features
from cxr.explain.explain import headline as localisation_headline
from cxr.explain.explain import localise
from cxr.external.formats import FORMATS, Format
from cxr.external.metrics import (
    Scored,
    external_headline,
    external_metrics,
    scores_of_table,
    unflagged_figures,
)
from cxr.external.prepare import SPLIT, array_boxes, prepare_set
from cxr.external.report import set_markdown
from cxr.external.sets import locate, read_set
from cxr.external.sources import trains_on
from cxr.inference import Predictor
from cxr.preprocess import reason_counts

#: What a set's figures say when the model trained on it (``ingest.sources``).
TRAINED_ON = (
    "NOT EXTERNAL: the model trained on this set (ingest.sources); these figures include "
    "its training and validation images. Its own test split is in reports/evaluation.md, "
    "per source"
)


@dataclass(frozen=True)
class Scoring:
    """How a set is scored: the stage's config, explain's pointing measures with the
    stage's intervals, and the calibration bins of evaluate."""

    config: ExternalConfig
    pointing: ExplainConfig
    bins: int
    ingest: IngestConfig = field(default_factory=IngestConfig)  # its sources: trained on


@dataclass
class SetResult:
    """One set's figures and what was left out of it, as its reports print them."""

    item: ExternalSet
    metrics: dict  # external_metrics, with the guard's figures where a guard was fitted
    excluded: pd.DataFrame  # every label-file row left out: source_row, image, reason
    located: dict | None  # the explain stage's summary on the set's boxes, where it has any

    @property
    def format(self) -> Format:
        return FORMATS[self.item.format]

    def report(self) -> dict:
        """``reports/external/<name>.json``."""
        item = self.item
        out = {"name": item.name, "format": item.format, "folder": item.folder,
               "note": self.format.note, **self.metrics, "excluded": len(self.excluded),
               "excluded_by_reason": self.by_reason}  # fmt: skip
        return out if self.located is None else {**out, "localisation": self.located}

    def markdown(self) -> str:
        """``reports/external/<name>.md``."""
        source = f"`{self.item.folder}` ({self.item.format} layout)"
        note = "; ".join(n for n in (self.metrics.get("trained_on"), self.format.note) if n)
        return set_markdown(self.item.name, source, self.metrics, self.by_reason,
                            self.located, note)  # fmt: skip

    def headline(self, seconds: float) -> dict:
        """``metrics/external/<name>.json``."""
        out = {**external_headline(self.metrics), "excluded": len(self.excluded),
               "seconds": seconds}  # fmt: skip
        if "trained_on" in self.metrics:
            out["trained_on"] = self.metrics["trained_on"]
        if self.located is not None:
            out["localisation"] = localisation_headline(self.located)
        return out

    @property
    def by_reason(self) -> dict:
        return reason_counts(self.excluded.reason) if len(self.excluded) else {}


def score_set(
    item: ExternalSet,
    scoring: Scoring,
    predictor: Predictor,
    reference: Scored,
    out_dir: Path,
    echo: Callable[[str], None] = print,
) -> SetResult:
    """Score ``predictor`` on ``item``, writing its arrays, ``predictions.parquet`` and
    ``excluded.csv`` into ``out_dir``; ``reference``: the NIH test split's scores;
    ``echo``: where progress lines go."""
    config, form, folder = scoring.config, FORMATS[item.format], Path(item.folder)
    labels = read_set(item.format, folder, item.labels, config.uncertain, config.frontal_only,
                      item.name)  # fmt: skip
    found, missing = locate(labels.images, folder, by_name=form.unique_names)
    if found.empty:
        raise InputError(
            f"{folder}: none of the {len(labels.images)} images of {item.name} has a file "
            f"there ({_commonest(missing)}); is 'folder' the download's top folder?"
        )
    index, undecoded = prepare_set(found, folder, out_dir, _preprocessing(predictor, config))
    excluded = pd.concat([labels.excluded, missing, undecoded], ignore_index=True)
    excluded.to_csv(out_dir / "excluded.csv", index=False)
    if index.empty:
        raise InputError(
            f"{folder}: none of {item.name}'s files decodes ({_commonest(undecoded)}); "
            f"every row is listed in {out_dir / 'excluded.csv'}"
        )
    run = predictor.forward(config.batch_size)
    data = SplitArrays(out_dir, SPLIT, predictor.model.input_views)
    logits, features = logits_and_features(run, data, item.name)
    verdict = None if predictor.guard is None else predictor.guard.check(data.array, features)
    table = prediction_table(index, predictor.calibration.apply(logits), SPLIT, logits,
                             form.resampling_unit, verdict)  # fmt: skip
    table.to_parquet(out_dir / "predictions.parquet", index=False)
    figures = (labels.scored, predictor.thresholds, config.bootstrap, config.confidence,
               config.seed, scoring.bins, form.resampling_unit, form.origin)  # fmt: skip
    metrics = external_metrics(scores_of_table(table), reference, *figures)
    if trains_on(scoring.ingest, item):
        metrics["trained_on"] = TRAINED_ON
    if verdict is not None:
        metrics["guard"] = {**verdict.summary(), **unflagged_figures(table, reference, *figures)}
    boxes = array_boxes(labels.boxes, index, form.box_frame)
    located = None
    if len(boxes):
        unit = form.resampling_unit
        echo(f"external: GradCAM on the boxed cases, {config.bootstrap} {unit} resamples")
        _, summary = localise(run, data.views, index, boxes, scoring.pointing, unit)
        located = {"split": SPLIT, **summary}
    return SetResult(item, metrics, excluded, located)


def _commonest(excluded: pd.DataFrame) -> str:
    reasons = excluded.reason.value_counts()
    return f"{reasons.iloc[0]} of them: {reasons.index[0]}" if len(reasons) else "none listed"


def _preprocessing(predictor: Predictor, config: ExternalConfig) -> PreprocessConfig:
    """best.pt's preprocessing, with this stage's workers: every side preprocess wrote, so
    the enhancement runs at the same side (a one-view model beside a sharper array gets
    that array written too, unread, rather than other contrast)."""
    return dataclasses.replace(predictor.preprocess, workers=config.workers)
