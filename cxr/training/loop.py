"""The training loop: epochs, validation, early stopping, checkpoints and resume.

Like ConvNeXt's ``engine.py``, the loop knows nothing of params or files of
settings: the stage builds the model and the loss and passes them in.
:func:`fit` runs :func:`train_one_epoch` and :func:`validate` until the
epochs or the patience run out. Each epoch's data order is seeded by
``(seed, epoch)``, its augmentation and dropout draws by ``(seed, epoch, rank)``
(``cxr.batches.epoch_seed``), and ``last.pt`` (``cxr.training.resume``, written
atomically after every epoch) holds the model, optimiser, schedule, RNG and
early-stopping state. A run killed at any point therefore resumes at the next
epoch and, on CPU, ends with the same weights as an uninterrupted run. A
non-finite loss stops training with the step and the last good checkpoint
named.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from cxr import distributed
from cxr.batches import EpochBatches, SplitArrays, epoch_seed, loader, source_weights, to_device
from cxr.config import TrainConfig
from cxr.device import autocast, compute_dtype, needs_loss_scaling, place
from cxr.evaluation.metrics import auroc, nan_mean
from cxr.evaluation.predict import ForwardPass
from cxr.findings import FINDINGS
from cxr.models import checkpoint
from cxr.models.checkpoint import ModelRecord
from cxr.models.registry import is_pretrained
from cxr.training import resume
from cxr.training.augment import augment_views
from cxr.training.optim import Schedule, parameter_groups
from cxr.training.resume import LoopState, ResumePoint
from cxr.training.watch import LossWatch, TrainingDiverged

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, targets) -> loss


@dataclass(frozen=True)
class RunFiles:
    """Where a run writes and what identifies it: ``best.pt`` and ``last.pt`` in ``folder``;
    ``last.pt`` resumes only a run with the same ``fingerprint``; ``record`` describes the
    model in ``best.pt`` (its epoch and score are filled in by the loop)."""

    folder: Path
    fingerprint: str
    record: ModelRecord

    @property
    def best(self) -> Path:
        return self.folder / "best.pt"

    @property
    def last(self) -> Path:
        return self.folder / "last.pt"


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
    criterion: Criterion,
    train_set: SplitArrays,
    val_set: SplitArrays,
    config: TrainConfig,
    files: RunFiles,
    device: torch.device,
    on_epoch: Callable[[dict], None] | None = None,
) -> Outcome:
    """Train ``model`` with ``criterion`` on ``train_set``, early-stopped on ``val_set``'s
    mean AUROC; write ``files.best`` and ``files.last``. ``on_epoch`` receives each epoch's
    log row (replayed on resume)."""
    world = distributed.current()
    dtype = _compute_dtype(device, files.record.model_config.precision)
    place(model, device)
    if isinstance(criterion, nn.Module):
        criterion = criterion.to(device)  # its class weights
    net = _training_module(model, world, device, config)  # what the training steps call
    sampler = EpochBatches(
        len(train_set), config.batch_size, config.seed, shuffle=True, drop_last=True,
        rank=world.rank, world=world.size,
        weights=source_weights(train_set.index, config.source_sampling),
    )  # fmt: skip
    batches = loader(train_set, sampler, config.workers, pin_memory=device.type == "cuda")
    schedule = _schedule(model, config, steps_per_epoch=max(len(sampler), 1))
    scaler = torch.amp.GradScaler(device.type, enabled=needs_loss_scaling(dtype))
    state, best_state = _restore(files, model, schedule, scaler, world)
    for row in state.history if on_epoch and world.main else ():
        on_epoch(row)
    resumed_from = state.epoch

    step = _Epoch(net, criterion, batches, schedule, config, device, dtype, scaler)
    t0, seen = time.perf_counter(), 0
    while state.epoch < config.epochs and not state.stopped(config.patience):
        sampler.set_epoch(state.epoch)
        row, images = step.run(state.epoch, files, val_set, model)
        seen += images
        if state.record(row):
            best_state = checkpoint.cpu_state(model)
            if world.main:
                _write_best(files, best_state, state)
        if not world.main:
            continue
        _save_last(files, model, (schedule, scaler), state, best_state, config)
        if on_epoch:
            on_epoch(row)
        tqdm.write(
            f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, val loss "
            f"{row['val_loss']:.4f}, val mean AUROC {row['val_mean_auroc']:.4f}"
        )

    if world.main and best_state is not None and not files.best.is_file():
        _write_best(files, best_state, state)  # a finished run resumed after best.pt was removed
    return _outcome(state, config, resumed_from, seen, time.perf_counter() - t0)


def _outcome(
    state: LoopState, config: TrainConfig, resumed_from: int, seen: int, seconds: float
) -> Outcome:
    return Outcome(
        epochs_run=state.epoch,
        best_epoch=state.best_epoch,
        best_val_mean_auroc=float(state.best),
        stopped_early=state.stopped(config.patience) and state.epoch < config.epochs,
        resumed_from_epoch=resumed_from,
        seconds=seconds,
        train_images_per_second=seen / seconds if seconds > 0 else 0.0,
        history=state.history,
    )


@dataclass
class _Epoch:
    """What one epoch of :func:`fit` trains with."""

    net: nn.Module
    criterion: Criterion
    batches: Iterable
    schedule: Schedule
    config: TrainConfig
    device: torch.device
    dtype: torch.dtype
    scaler: torch.amp.GradScaler

    def run(
        self, epoch: int, files: RunFiles, val_set: SplitArrays, model: nn.Module
    ) -> tuple[dict, int]:
        """Train epoch ``epoch`` (from 0), validate; its log row and the images seen."""
        try:
            train_loss, images = train_one_epoch(
                self.net, self.criterion, self.batches, self.schedule, self.config,
                self.device, epoch, self.dtype, self.scaler,
            )  # fmt: skip
        except TrainingDiverged as err:
            good = f"{files.last} (epoch {epoch})" if epoch else "none yet"
            raise TrainingDiverged(
                f"{err}; last good checkpoint: {good}. Lower train.lr or check the data."
            ) from None
        distributed.average_buffers(model, distributed.current())  # one model to validate, save
        row = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            **validate(model, self.criterion, val_set, self.device, self.dtype),
            "lr": max(g["lr"] for g in self.schedule.optimizer.param_groups),
        }
        self.schedule.epoch_end(row["val_mean_auroc"])
        return row, images


def train_one_epoch(
    net: nn.Module,
    criterion: Criterion,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    schedule: Schedule,
    config: TrainConfig,
    device: torch.device,
    epoch: int,
    dtype: torch.dtype = torch.float32,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[float, int]:
    """Epoch ``epoch`` (from 0) over ``batches``: return the mean loss over every process and
    the images seen. A non-finite loss on any process raises :class:`TrainingDiverged` on all.

    The steps never wait for the device: the losses stay there (``LossWatch``) and the
    host reads them every ``config.check_every`` steps and at the end.
    """
    world = distributed.current()
    # Dropout and augmentation draws per rank; the data order is shared (EpochBatches).
    draws = epoch_seed(config.seed, epoch, world.rank)
    torch.manual_seed(draws)
    generator = torch.Generator(device=device).manual_seed(draws)
    net.train()
    watch = LossWatch(device, world, config.check_every, epoch, schedule.step_count)
    seen = 0
    bar = tqdm(
        batches, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False,
        disable=not world.main,
    )  # fmt: skip
    for batch in bar:
        loss = train_step(
            net, criterion, batch.views, batch.labels, schedule.optimizer, config, generator,
            dtype, scaler,
        )  # fmt: skip
        watch.add(loss)
        schedule.step()
        seen += len(batch.labels) * world.size
        if watch.due():
            bar.set_postfix(loss=f"{watch.check():.4f}")
    return watch.epoch_mean(), seen


def train_step(
    net: nn.Module,
    criterion: Criterion,
    views: Sequence[torch.Tensor],
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    scaler: torch.amp.GradScaler | None = None,
) -> torch.Tensor:
    """One optimiser step on a uint8 batch (every view of its images the model reads,
    ``cxr.batches.Batch.views``): copy, augment (all views alike), forward under autocast
    to ``dtype``, loss, backward, step. Nothing here reads a value back to the host.

    Returns the (detached) loss, computed on the fp32 logits. Neither fp32 nor bf16
    (fp32's exponent range) needs loss scaling; fp16 takes an enabled ``scaler``
    (``cxr.device.needs_loss_scaling``), whose step skips a step with overflowed
    gradients and itself reads one flag back.
    """
    device = generator.device  # the augmentation draws where the batch trains
    views = [to_device(v, device, channels_last=False) for v in views]
    views = [
        v.contiguous(memory_format=torch.channels_last)  # (B, 1, S, S)[, (B, 1, kS, kS)]
        for v in augment_views(views, config.augment, generator)
    ]
    y = labels.to(device, non_blocking=True)  # (B, C)
    with autocast(device, dtype):
        logits = net(*views)  # (B, C), fp32
    loss = criterion(logits, y)
    optimizer.zero_grad(set_to_none=True)
    # No early exit on a bad loss here: under DDP every process must take part in
    # the gradient all-reduce. The loop checks the returned losses on all processes.
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss.detach()


def validate(
    model: nn.Module,
    criterion: Criterion,
    val_set: SplitArrays,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> dict:
    """Validation loss, per-class AUROC and their mean (NaN-skipping) on the whole split."""
    logits = ForwardPass(model, device, dtype, batch_size=128).split_logits(val_set)  # (N, C)
    loss = criterion(torch.from_numpy(logits), torch.from_numpy(val_set.labels)).item()
    scores = auroc(val_set.labels, logits, FINDINGS)  # ranks: a float32 sigmoid ties above 17
    return {
        "val_loss": loss,
        "val_mean_auroc": nan_mean(scores),
        "val_auroc": {n: float(v) for n, v in zip(FINDINGS, scores, strict=True)},
    }


def _compute_dtype(device: torch.device, precision: str) -> torch.dtype:
    """Autocast's dtype for this run; on CUDA also ``cudnn.benchmark`` (``drop_last`` fixes
    the training shapes, so each is tuned once)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return compute_dtype(device, precision)


def _schedule(model: nn.Module, config: TrainConfig, steps_per_epoch: int) -> Schedule:
    """AdamW over ``model``'s parameter groups, under the warmup-then-decay schedule."""
    groups = parameter_groups(
        model, config.lr, config.weight_decay, config.backbone_lr_mult, is_pretrained(model)
    )
    return Schedule(
        torch.optim.AdamW(groups, lr=config.lr),
        config.schedule,
        round(config.warmup_epochs * steps_per_epoch),
        config.epochs * steps_per_epoch,
    )


def _restore(
    files: RunFiles,
    model: nn.Module,
    schedule: Schedule,
    scaler: torch.amp.GradScaler,
    world: distributed.World,
) -> tuple[LoopState, dict[str, torch.Tensor] | None]:
    """Load ``files.last`` into the model, optimiser, schedule, loss scale and RNG if it is
    this run's; return the loop state and the best weights so far (a fresh state otherwise).

    Rank 0 alone reads it (it alone writes it) and hands the point to the other ranks:
    on nodes without a shared filesystem they would otherwise start at epoch 0 while
    it resumed, and hang at the first collective they disagree on.
    """
    point = distributed.from_main(lambda: resume.load(files.last, files.fingerprint), world)
    if point is None:
        return LoopState(), None
    model.load_state_dict(point.model_state)
    schedule.optimizer.load_state_dict(point.optimizer)
    schedule.load_state_dict(point.schedule)
    if point.scaler:
        scaler.load_state_dict(point.scaler)
    resume.set_rng_state(point.rng)
    return point.loop, point.best_model_state


def _save_last(
    files: RunFiles,
    model: nn.Module,
    steps: tuple[Schedule, torch.amp.GradScaler],
    state: LoopState,
    best_state: dict[str, torch.Tensor] | None,
    config: TrainConfig,
) -> None:
    schedule, scaler = steps
    resume.save(
        files.last,
        ResumePoint(
            fingerprint=files.fingerprint,
            model_state=model.state_dict(),
            optimizer=schedule.optimizer.state_dict(),
            schedule=schedule.state_dict(),
            scaler=scaler.state_dict(),  # empty unless fp16
            rng=resume.rng_state(),
            loop=state,
            best_model_state=best_state,
            train_config=_plain(dataclasses.asdict(config)),
        ),
    )


def _write_best(files: RunFiles, state: dict[str, torch.Tensor], loop: LoopState) -> None:
    record = dataclasses.replace(files.record, epoch=loop.best_epoch, val_mean_auroc=loop.best)
    checkpoint.save_model(files.best, state, record)


def _training_module(
    model: nn.Module, world: distributed.World, device: torch.device, config: TrainConfig
) -> nn.Module:
    """The module the training steps call: DDP around ``model`` when several processes
    train, compiled if ``config.compile``; ``model`` itself stays unwrapped (its state is
    what checkpoints hold)."""
    net = _data_parallel(model, world, device, config.sync_bn)
    return torch.compile(net) if config.compile else net


def _data_parallel(
    model: nn.Module, world: distributed.World, device: torch.device, sync_bn: bool
) -> nn.Module:
    """DDP around ``model`` when several processes train. SyncBN converts the BatchNorm
    layers in place before wrapping; it needs CUDA."""
    if not world.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if sync_bn and device.type == "cuda":
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:
            raise RuntimeError("SyncBatchNorm conversion replaced the root module")
    # No buffer broadcast before every forward (average_buffers after each epoch makes
    # them agree), and gradients as views of the all-reduce buckets (no second copy).
    return DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        broadcast_buffers=False,
        gradient_as_bucket_view=True,
    )


def _plain(obj):
    """Dataclass dicts to built-in types only (what ``weights_only`` loading accepts)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
