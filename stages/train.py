"""Stage ``train``: fit the classifier on train, early-stopped on validation mean AUROC."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Annotated

import torch
import typer

from cxr import distributed
from cxr.atomic import write_json
from cxr.batches import SplitArrays
from cxr.config import ModelConfig, PreprocessConfig, TrainConfig
from cxr.device import compute_dtype, precision_name
from cxr.environment import describe
from cxr.evaluation.metrics import label_gap_warnings, label_gaps
from cxr.findings import FINDINGS
from cxr.models.checkpoint import ModelRecord
from cxr.models.registry import build_model, initialise
from cxr.training.loop import RunFiles, fit
from cxr.training.loss import FocalLoss
from cxr.training.resume import fingerprint
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section

PROCESSED = paths.PROCESSED
OUT_DIR = paths.MODEL_DIR
LIVE_DIR = paths.TRAIN_PLOTS
METRICS = paths.metrics_file("train")


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Train; write data/model/best.pt and last.pt, DVCLive curves and metrics/train.json.

    Under ``torchrun --nproc_per_node=N -m stages.train`` every process runs this
    and they train data-parallel; only rank 0 writes.
    """
    values = load_params(params)
    model_config = section(values, "model", ModelConfig)
    config = section(values, "train", TrainConfig)
    preprocess = section(values, "preprocess", PreprocessConfig)
    world, device = distributed.init_from_env(config.device)
    try:
        _train(model_config, config, preprocess, world, device)
    finally:
        distributed.finish()


def _train(
    model_config: ModelConfig,
    config: TrainConfig,
    preprocess: PreprocessConfig,
    world: distributed.World,
    device: torch.device,
) -> None:
    from dvclive import Live

    detail = model_config.uses_detail  # the local path crops from the detail array
    train_set = SplitArrays(PROCESSED, "train", with_detail=detail)
    val_set = SplitArrays(PROCESSED, "val", with_detail=detail)
    torch.manual_seed(config.seed)  # the head's random initialisation
    model = build_model(model_config, num_classes=len(FINDINGS))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights_used = initialise(model, model_config.weights)
    for w in caught:
        if world.main:
            typer.echo(f"warning: {w.message}", err=True)
    gaps = {
        "train": label_gaps(train_set.labels, FINDINGS),
        "val": label_gaps(val_set.labels, FINDINGS),
    }
    if world.main:
        for line in label_gap_warnings(gaps):
            typer.echo(f"warning: {line}", err=True)

    environment = describe(device)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    # Only rank 0 logs; the others train and validate in step with it.
    live = (
        Live(str(LIVE_DIR), dvcyaml=False, save_dvc_exp=False, report=None) if world.main else None
    )

    def log(row: dict) -> None:
        live.log_metric("train/loss", row["train_loss"])
        live.log_metric("val/loss", row["val_loss"])
        live.log_metric("val/mean_auroc", row["val_mean_auroc"])
        for name, value in row["val_auroc"].items():
            live.log_metric(f"val/auroc/{name}", value)
        live.log_metric("lr", row["lr"])
        live.next_step()

    record = ModelRecord(
        model_config=model_config,
        classes=FINDINGS,
        preprocess=preprocess,
        weights_used=weights_used,
        environment=environment,
    )
    dtype = compute_dtype(device, model_config.precision)
    precision = precision_name(device, dtype)
    # Rank 0 hashes the data (about 5 GB on NIH) and tells the others. The dtype, not the
    # precision's full name: a bf16 run preempted on an A100 resumes on an H100.
    run_id = distributed.from_main(
        lambda: fingerprint([model_config, config, preprocess], PROCESSED, str(dtype)), world
    )
    files = RunFiles(OUT_DIR, run_id, record)
    criterion = FocalLoss.for_labels(train_set.labels, config.focal_gamma, config.class_weight)
    outcome = fit(model, criterion, train_set, val_set, config, files, device, on_epoch=log)
    if not world.main:
        return
    live.end()
    write_json(paths.ENVIRONMENT, environment)
    summary = {k: v for k, v in dataclasses.asdict(outcome).items() if k != "history"}
    write_json(
        METRICS,
        {
            "arch": model_config.arch,
            "weights": weights_used,
            "device": str(device),
            "processes": world.size,
            "precision": precision,
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_images": len(train_set),
            "val_images": len(val_set),
            "image_size": train_set.image_size,
            "label_gaps": gaps,
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()},
        },
    )
    resumed = (
        f", resumed after epoch {outcome.resumed_from_epoch}" if outcome.resumed_from_epoch else ""
    )
    typer.echo(
        f"train: best validation mean AUROC {outcome.best_val_mean_auroc:.4f} at epoch "
        f"{outcome.best_epoch} of {outcome.epochs_run}{resumed}"
    )


if __name__ == "__main__":
    run(main)
