"""The train stage's work, writing no metrics: build the model and the loss from the
configs, fit it (``cxr.training.loop.fit``, which writes the checkpoints) and say what
was trained. ``stages/train.py`` reads params, sets up logging, calls :func:`train_model`
and writes what it returns."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cxr import distributed
from cxr.batches import SplitArrays, source_weights
from cxr.config import ModelConfig, PreprocessConfig, TrainConfig
from cxr.device import compute_dtype, precision_name
from cxr.environment import describe
from cxr.evaluation.metrics import label_gap_warnings, label_gaps
from cxr.findings import FINDINGS
from cxr.models.checkpoint import ModelRecord
from cxr.models.registry import build_model, initialise
from cxr.training.loop import Outcome, RunFiles, fit
from cxr.training.loss import FocalLoss
from cxr.training.resume import fingerprint


@dataclass(frozen=True)
class TrainConfigs:
    """The three sections training reads."""

    model: ModelConfig
    train: TrainConfig
    preprocess: PreprocessConfig


@dataclass
class TrainRun:
    """What one training run did: the loop's outcome, the environment it ran in, and the
    headline metrics (``metrics/train.json``)."""

    outcome: Outcome
    environment: dict
    metrics: dict


def train_model(
    configs: TrainConfigs,
    processed: Path,
    out_dir: Path,
    device: torch.device,
    on_epoch: Callable[[dict], None] | None = None,
    warn: Callable[[str], None] = print,
) -> TrainRun:
    """Train on ``processed``'s train split, early-stopped on its validation split, writing
    ``best.pt`` and ``last.pt`` into ``out_dir``. ``warn`` gets each warning before training
    starts (on the main process); ``on_epoch`` each epoch's log row."""
    world = distributed.current()
    views = configs.model.input_views
    train_set = SplitArrays(processed, "train", views)
    val_set = SplitArrays(processed, "val", views)
    model, weights_used, messages = _built(configs.model, configs.train.seed)
    gaps = {"train": label_gaps(train_set.labels, FINDINGS),
            "val": label_gaps(val_set.labels, FINDINGS)}  # fmt: skip
    for line in [*messages, *label_gap_warnings(gaps)] if world.main else ():
        warn(line)
    environment = describe(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = ModelRecord(configs.model, FINDINGS, configs.preprocess, weights_used, environment)
    dtype = compute_dtype(device, configs.model.precision)
    # Rank 0 hashes the data (about 5 GB on NIH) and tells the others. The dtype, not the
    # precision's full name: a bf16 run preempted on an A100 resumes on an H100.
    sections = [configs.model, configs.train, configs.preprocess]
    run_id = distributed.from_main(lambda: fingerprint(sections, processed, str(dtype)), world)
    unknown = {
        s: int(np.isnan(d.labels).sum()) for s, d in (("train", train_set), ("val", val_set))
    }
    criterion = FocalLoss.for_labels(
        train_set.labels, configs.train.focal_gamma, configs.train.class_weight,
        masked=any(unknown.values()),  # a finding some source does not label: NaN, masked
    )  # fmt: skip
    files = RunFiles(out_dir, run_id, record)
    outcome = fit(model, criterion, train_set, val_set, configs.train, files, device, on_epoch)
    summary = {k: v for k, v in dataclasses.asdict(outcome).items() if k != "history"}
    metrics = {
        "arch": configs.model.arch,
        "weights": weights_used,
        "device": str(device),
        "processes": world.size,
        "precision": precision_name(device, dtype),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_images": len(train_set),
        "val_images": len(val_set),
        "image_size": train_set.image_size,
        "label_gaps": gaps,
        # Labels no source gave (masked out of the loss); absent where every label is known.
        **({"unknown_labels": unknown} if any(unknown.values()) else {}),
        **_sampling(train_set, configs.train.source_sampling),
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()},
    }
    return TrainRun(outcome, environment, metrics)


def _built(config: ModelConfig, seed: int) -> tuple[torch.nn.Module, str, list[str]]:
    """The model, initialised from ``config.weights``: the module, the weights it got, and
    the warnings that raised (e.g. weights that could not be found)."""
    torch.manual_seed(seed)  # the head's random initialisation
    model = build_model(config, num_classes=len(FINDINGS))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights_used = initialise(model, config.weights)
    return model, weights_used, [str(w.message) for w in caught]


def _sampling(train_set: SplitArrays, mode: str) -> dict:
    """How an epoch drew its sources (several sources only): each one's training images and
    its expected share of the draws."""
    if "source" not in train_set.index.columns:
        return {}
    sources = train_set.index.source
    weights = source_weights(train_set.index, mode)
    weights = np.ones(len(sources)) if weights is None else weights  # size: each image once
    share = pd.Series(weights).groupby(sources.to_numpy()).sum() / weights.sum()
    return {
        "source_sampling": {
            "mode": mode,
            "train_images": {str(k): int(v) for k, v in sources.value_counts().items()},
            "share_of_draws": {str(k): round(float(v), 4) for k, v in share.items()},
        }
    }
