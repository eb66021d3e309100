"""The training loop: epochs, validation, early stopping, checkpoints and resume.

Each epoch's data order is seeded by ``(seed, epoch)``, its augmentation and
dropout draws by ``(seed, epoch, rank)`` (``cxr.batches.epoch_seed``),
and ``last.pt`` (written atomically after every epoch) holds the model,
optimiser, schedule, scaler, RNG and early-stopping state. A run killed at any
point therefore resumes at the next epoch and, on CPU, ends with the same
weights as an uninterrupted run. A non-finite loss stops training with the step
and the last good checkpoint named.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cxr import distributed
from cxr.batches import EpochBatches, SplitArrays, epoch_seed, loader, to_device
from cxr.config import ModelConfig, TrainConfig
from cxr.device import autocast
from cxr.evaluation.metrics import auroc, nan_mean
from cxr.evaluation.predict import predict_logits
from cxr.findings import FINDINGS
from cxr.models import checkpoint
from cxr.models.registry import is_pretrained
from cxr.training import resume
from cxr.training.augment import augment
from cxr.training.loss import class_weights, focal_loss
from cxr.training.optim import Schedule, parameter_groups


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Outcome:
    epochs_run: int
    best_epoch: int
    best_val_mean_auroc: float
    stopped_early: bool
    resumed_from_epoch: int
    seconds: float
    train_images_per_second: float
    history: list[dict]


def fit(
    model: nn.Module,
    model_config: ModelConfig,
    train_set: SplitArrays,
    val_set: SplitArrays,
    config: TrainConfig,
    out_dir: str | Path,
    device: torch.device,
    fingerprint: str,
    extra: dict | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> Outcome:
    """Train ``model``; write ``best.pt`` and ``last.pt`` into ``out_dir``.

    ``last.pt`` also carries the best weights, so ``best.pt`` can always be
    rewritten from it.

    ``fingerprint`` identifies the run's inputs: ``last.pt`` is resumed only when
    it matches. ``extra`` goes into ``best.pt`` (classes, preprocessing, ...).
    ``on_epoch`` receives each epoch's log row (also replayed on resume).
    """
    out_dir = Path(out_dir)
    best_path, last_path = out_dir / "best.pt", out_dir / "last.pt"
    world = distributed.current()
    model.to(device).to(memory_format=torch.channels_last)
    net = _data_parallel(model, world, device, config.sync_bn)  # what the training steps call
    if config.compile:
        net = torch.compile(net)
    weights = {
        k: v.to(device) for k, v in class_weights(train_set.labels, config.class_weight).items()
    }
    groups = parameter_groups(
        model, config.lr, config.weight_decay, config.backbone_lr_mult, is_pretrained(model)
    )
    optimizer = torch.optim.AdamW(groups, lr=config.lr)
    sampler = EpochBatches(
        len(train_set),
        config.batch_size,
        config.seed,
        shuffle=True,
        drop_last=True,
        rank=world.rank,
        world=world.size,
    )
    steps_per_epoch = max(len(sampler), 1)
    schedule = Schedule(
        optimizer,
        config.schedule,
        round(config.warmup_epochs * steps_per_epoch),
        config.epochs * steps_per_epoch,
    )
    scaler = torch.amp.GradScaler(device.type, enabled=False)  # bf16 needs no loss scaling
    batches = loader(train_set, sampler, config.workers, pin_memory=device.type == "cuda")

    state = {"epoch": 0, "best": -math.inf, "best_epoch": 0, "bad_epochs": 0, "history": []}
    best_state: dict[str, torch.Tensor] | None = None
    resumed_from = 0
    last = {}
    if last_path.is_file():
        try:
            last = checkpoint.load(last_path)
        except checkpoint.CheckpointError as err:
            # The resume point is a convenience: losing it costs time, never the run.
            warnings.warn(f"cannot resume: {err}; training from the first epoch", stacklevel=2)
    if last and last.get("fingerprint") == fingerprint:
        model.load_state_dict(last["model_state"])
        optimizer.load_state_dict(last["optimizer"])
        schedule.load_state_dict(last["schedule"])
        scaler.load_state_dict(last["scaler"])
        resume.set_rng_state(last["rng"])
        state = last["loop"]
        best_state = last["best_model_state"]
        resumed_from = state["epoch"]
        for row in state["history"]:
            if on_epoch and world.main:
                on_epoch(row)

    def write_best() -> None:
        payload = checkpoint.model_payload(
            model,
            model_config,
            epoch=state["best_epoch"],
            val_mean_auroc=state["best"],
            **(extra or {}),
        )
        payload["model_state"] = best_state
        checkpoint.save(best_path, payload)

    t0, seen = time.perf_counter(), 0
    stopped_early = state["bad_epochs"] >= config.patience
    while state["epoch"] < config.epochs and not stopped_early:
        epoch = state["epoch"]
        model.train()
        sampler.set_epoch(epoch)
        # Dropout and augmentation draw per rank; the data order is shared (EpochBatches).
        draws = epoch_seed(config.seed, epoch, world.rank)
        torch.manual_seed(draws)
        aug_gen = torch.Generator(device=device).manual_seed(draws)
        losses = []
        bar = tqdm(
            batches,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            unit="batch",
            leave=False,
            disable=not world.main,
        )
        for images, labels, _ in bar:
            loss = train_step(
                net, images, labels, optimizer, scaler, config, weights, device, aug_gen
            )
            if distributed.any_true(not torch.isfinite(loss).item(), world, device):
                good = f"{last_path} (epoch {epoch})" if epoch else "none yet"
                raise TrainingDiverged(
                    f"loss is {loss.item()} at epoch {epoch + 1}, step {schedule.step_count + 1}; "
                    f"last good checkpoint: {good}. Lower train.lr or check the data."
                )
            schedule.step()
            losses.append(loss.item())
            seen += len(images) * world.size
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")

        val_logits = predict_logits(model, val_set, device, batch_size=128)
        val_loss = focal_loss(
            torch.from_numpy(val_logits),
            torch.from_numpy(val_set.labels),
            config.focal_gamma,
            **{k: v.cpu() for k, v in weights.items()},
        ).item()
        val_auroc = auroc(val_set.labels, 1 / (1 + np.exp(-val_logits)), FINDINGS)
        mean_auroc = nan_mean(val_auroc)
        schedule.epoch_end(mean_auroc)
        row = {
            "epoch": epoch + 1,
            "train_loss": distributed.mean(
                float(np.mean(losses)) if losses else float("nan"), world, device
            ),
            "val_loss": val_loss,
            "val_mean_auroc": mean_auroc,
            "val_auroc": {n: float(v) for n, v in zip(FINDINGS, val_auroc, strict=True)},
            "lr": max(g["lr"] for g in optimizer.param_groups),
        }
        state["history"].append(row)
        state["epoch"] = epoch + 1
        if mean_auroc > state["best"]:
            state.update(best=mean_auroc, best_epoch=epoch + 1, bad_epochs=0)
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if world.main:
                write_best()
        else:
            state["bad_epochs"] += 1
        stopped_early = state["bad_epochs"] >= config.patience
        if not world.main:
            continue
        checkpoint.save(
            last_path,
            {
                "fingerprint": fingerprint,
                "model_state": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": resume.rng_state(),
                "loop": state,
                "best_model_state": best_state,
                "train_config": _plain(dataclasses.asdict(config)),
            },
        )
        if on_epoch:
            on_epoch(row)
        tqdm.write(
            f"epoch {epoch + 1}: train loss {row['train_loss']:.4f}, val loss {val_loss:.4f}, "
            f"val mean AUROC {mean_auroc:.4f}"
        )

    if world.main and best_state is not None and not best_path.is_file():
        write_best()  # a finished run resumed after best.pt was removed (DVC does before a rerun)
    seconds = time.perf_counter() - t0
    return Outcome(
        epochs_run=state["epoch"],
        best_epoch=state["best_epoch"],
        best_val_mean_auroc=float(state["best"]),
        stopped_early=stopped_early and state["epoch"] < config.epochs,
        resumed_from_epoch=resumed_from,
        seconds=seconds,
        train_images_per_second=seen / seconds if seconds > 0 else 0.0,
        history=state["history"],
    )


def train_step(
    net: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    config: TrainConfig,
    weights: dict[str, torch.Tensor],
    device: torch.device,
    generator: torch.Generator,
) -> torch.Tensor:
    """One optimiser step on a uint8 batch: copy, augment, forward, focal loss, backward, step.

    Returns the (detached) loss.
    """
    x = augment(to_device(images, device, channels_last=False), config.augment, generator)
    x = x.contiguous(memory_format=torch.channels_last)
    y = labels.to(device, non_blocking=True)
    with autocast(device):
        logits = net(x)
    loss = focal_loss(logits, y, config.focal_gamma, **weights)
    optimizer.zero_grad(set_to_none=True)
    # No early exit on a bad loss here: under DDP every process must take part in
    # the gradient all-reduce. The loop checks the returned loss on all processes.
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


def _data_parallel(
    model: nn.Module, world: distributed.World, device: torch.device, sync_bn: bool
) -> nn.Module:
    """The module the training steps call: DDP around ``model`` when several processes train.

    ``model`` itself stays unwrapped (its state is what checkpoints hold). SyncBN
    converts the BatchNorm layers in place before wrapping; it needs CUDA.
    """
    if not world.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if sync_bn and device.type == "cuda":
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:
            raise RuntimeError("SyncBatchNorm conversion replaced the root module")
    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def _plain(obj):
    """Dataclass dicts to built-in types only (what ``weights_only`` loading accepts)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
