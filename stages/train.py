"""Stage ``train``: fit the classifier on train, early-stopped on validation mean AUROC."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path
from typing import Annotated

import torch
import typer

import cxr
from cxr import distributed
from cxr.atomic import write_json
from cxr.batches import SplitArrays
from cxr.config import ModelConfig, PreprocessConfig, TrainConfig
from cxr.environment import describe
from cxr.evaluation.metrics import label_gaps
from cxr.findings import FINDINGS
from cxr.knobs import result_settings
from cxr.models.registry import build_model, initialise
from cxr.training.loop import fit
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section

PROCESSED = paths.PROCESSED
OUT_DIR = paths.MODEL_DIR
LIVE_DIR = paths.TRAIN_PLOTS
METRICS = paths.metrics_file("train")


#: The code a training result depends on (relative to the repository): a change
#: to any of it makes an old ``last.pt`` a different run, never one to resume.
TRAINING_CODE = (
    "cxr/models",
    "cxr/training",
    "cxr/batches.py",
    "cxr/distributed.py",
    "cxr/evaluation/metrics.py",
    "cxr/evaluation/predict.py",
    "cxr/device.py",
    "cxr/findings.py",
    "cxr/processed.py",
    "cxr/cpu_kernels.py",  # with stages/__init__.py, which applies it: the kernels decide bits
    "stages/__init__.py",
)


def fingerprint(configs: list, processed: Path) -> str:
    """What a resumable ``last.pt`` must match: the configs' result settings (not their
    speed knobs: ``cxr.knobs``), the training code and every byte of the training data.

    Hashing the arrays costs seconds even on NIH (about 1 GB/s); matching on
    sizes alone once resumed a finished run on re-rendered images, and leaving
    the code out once let a changed training loop "resume" a finished run.
    """
    h = hashlib.sha256(json.dumps([result_settings(c) for c in configs], sort_keys=True).encode())
    root = Path(cxr.__file__).resolve().parent.parent
    for entry in TRAINING_CODE:
        path = root / entry
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(source.relative_to(root).as_posix().encode())
            h.update(source.read_bytes())
    for split in ("train", "val"):
        for name in (f"{split}.parquet", f"{split}.npy"):
            with open(processed / name, "rb") as f:
                for block in iter(lambda: f.read(1 << 23), b""):
                    h.update(block)
    return h.hexdigest()


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

    train_set, val_set = SplitArrays(PROCESSED, "train"), SplitArrays(PROCESSED, "val")
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
        for line in _gap_warnings(gaps):
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

    outcome = fit(
        model,
        model_config,
        train_set,
        val_set,
        config,
        OUT_DIR,
        device,
        fingerprint([model_config, config, preprocess], PROCESSED),
        extra={
            "classes": list(FINDINGS),
            "preprocess": dataclasses.asdict(preprocess),
            "weights_used": weights_used,
            "environment": environment,
        },
        on_epoch=log,
    )
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
            "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
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


def _gap_warnings(gaps: dict[str, dict[str, list[str]]]) -> list[str]:
    consequence = {
        "train": "the model has nothing to learn from",
        "val": "no validation AUROC (early stopping uses the others), "
        "and evaluate's threshold falls back to 0.5",
    }
    return [
        f"{split} split: {', '.join(names)}: {kind.replace('_', ' ')}; {consequence[split]}"
        for split, kinds in gaps.items()
        for kind, names in kinds.items()
        if names
    ]


if __name__ == "__main__":
    run(main)
