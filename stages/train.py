"""Stage ``train``: fit the classifier on train, early-stopped on validation mean AUROC."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from cxr import distributed
from cxr.atomic import write_json
from cxr.config import ModelConfig, PreprocessConfig, TrainConfig
from cxr.training.run import TrainConfigs, train_model
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
    configs = TrainConfigs(
        section(values, "model", ModelConfig),
        section(values, "train", TrainConfig),
        section(values, "preprocess", PreprocessConfig),
    )
    world, device = distributed.init_from_env(configs.train.device)
    try:
        _train(configs, world, device)
    finally:
        distributed.finish()


def _train(configs: TrainConfigs, world: distributed.World, device: torch.device) -> None:
    from dvclive import Live

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

    def warn(line: str) -> None:
        typer.echo(f"warning: {line}", err=True)

    done = train_model(configs, PROCESSED, OUT_DIR, device, on_epoch=log, warn=warn)
    if not world.main:
        return
    live.end()
    write_json(paths.ENVIRONMENT, done.environment)
    write_json(METRICS, done.metrics)
    outcome = done.outcome
    resumed = (
        f", resumed after epoch {outcome.resumed_from_epoch}" if outcome.resumed_from_epoch else ""
    )
    typer.echo(
        f"train: best validation mean AUROC {outcome.best_val_mean_auroc:.4f} at epoch "
        f"{outcome.best_epoch} of {outcome.epochs_run}{resumed}"
    )


if __name__ == "__main__":
    run(main)
