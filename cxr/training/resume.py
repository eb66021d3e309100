"""The resume file ``last.pt``: what a killed run needs to continue at its next epoch.

:class:`ResumePoint` is written atomically after every epoch; a run resumes
from it only when its :func:`fingerprint` (result settings, training code and
every byte of the training data) matches, so a changed setting, loop or data
set is a new run, never a continued one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import cxr
from cxr.knobs import result_settings
from cxr.models import checkpoint
from cxr.views import written_views

#: The code a training result depends on (relative to the repository): a change
#: to any of it makes an old ``last.pt`` a different run, never one to resume.
TRAINING_CODE = (
    "cxr/models",
    "cxr/training",
    "cxr/batches.py",
    "cxr/views.py",
    "cxr/distributed.py",
    "cxr/evaluation/metrics.py",
    "cxr/evaluation/predict.py",
    "cxr/device.py",
    "cxr/findings.py",
    "cxr/processed.py",
    "cxr/cpu_kernels.py",  # with stages/__init__.py, which applies it: the kernels decide bits
    "stages/__init__.py",
)


def fingerprint(configs: list, processed: Path, computed_in: str = "") -> str:
    """What a resumable ``last.pt`` must match: the configs' result settings (not their
    speed knobs: ``cxr.knobs``), the training code, every byte of the training data, and
    ``computed_in``, the dtype the run computes in (``model.precision: auto`` is bf16 on
    one machine, fp16 or fp32 on another; a bf16 run must not resume in fp32, but may on
    another bf16 GPU, as a preempted job is rescheduled).

    Hashing the arrays costs seconds even on NIH (about 1 GB/s); matching on
    sizes alone once resumed a finished run on re-rendered images, and leaving
    the code out once let a changed training loop "resume" a finished run.
    """
    h = hashlib.sha256(json.dumps([result_settings(c) for c in configs], sort_keys=True).encode())
    h.update(computed_in.encode())
    root = Path(cxr.__file__).resolve().parent.parent
    for entry in TRAINING_CODE:
        path = root / entry
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(source.relative_to(root).as_posix().encode())
            h.update(source.read_bytes())
    for split in ("train", "val"):
        for path in [processed / f"{split}.parquet", *written_views(processed, split)]:
            h.update(path.name.encode())
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 23), b""):
                    h.update(block)
    return h.hexdigest()


@dataclass
class LoopState:
    """Early stopping's state after ``epoch`` finished epochs, and their log rows."""

    epoch: int = 0
    best: float = -math.inf  # best validation mean AUROC so far
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since the best
    history: list[dict] = field(default_factory=list)

    def record(self, row: dict) -> bool:
        """Add one epoch's log row; True when its validation mean AUROC is the best yet."""
        self.history.append(row)
        self.epoch = row["epoch"]
        if row["val_mean_auroc"] > self.best:
            self.best, self.best_epoch, self.bad_epochs = row["val_mean_auroc"], self.epoch, 0
            return True
        self.bad_epochs += 1
        return False

    def stopped(self, patience: int) -> bool:
        return self.bad_epochs >= patience


@dataclass
class ResumePoint:
    """Everything ``last.pt`` holds. ``best_model_state`` lets ``best.pt`` be rewritten."""

    fingerprint: str
    model_state: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    scaler: dict[str, Any]  # fp16's GradScaler (its loss scale); empty otherwise
    rng: dict[str, Any]
    loop: LoopState
    best_model_state: dict[str, torch.Tensor] | None
    train_config: dict[str, Any]  # for a reader; resuming matches the fingerprint instead


def save(path: Path, point: ResumePoint) -> None:
    fields = {f.name: getattr(point, f.name) for f in dataclasses.fields(point)}
    checkpoint.save(path, {**fields, "loop": dataclasses.asdict(point.loop)})


def load(path: Path, fingerprint: str) -> ResumePoint | None:
    """The resume point in ``path`` if it belongs to the run ``fingerprint`` names.

    The resume point is a convenience: an unreadable one costs time, never the
    run, so it is a warning and a fresh start.
    """
    if not path.is_file():
        return None
    try:
        payload = checkpoint.load(path)
    except checkpoint.CheckpointError as err:
        warnings.warn(f"cannot resume: {err}; training from the first epoch", stacklevel=2)
        return None
    if payload.get("fingerprint") != fingerprint:
        return None
    names = {f.name for f in dataclasses.fields(ResumePoint)}
    try:
        values = {k: payload[k] for k in names}
        return ResumePoint(**{**values, "loop": LoopState(**payload["loop"])})
    except (KeyError, TypeError) as err:
        warnings.warn(
            f"cannot resume: {path} lacks {err}; training from the first epoch", stacklevel=2
        )
        return None


def rng_state() -> dict[str, Any]:
    """Torch's CPU generator state and this process's CUDA device's (dropout and anything
    else drawing from them).

    The loop also reseeds them per epoch (by rank); these states make a resumed run
    exact even for draws a future change might add between epochs. Only the current
    device's CUDA state is kept: rank 0 saves its own device's, every rank restores it
    (the point is rank 0's, broadcast), and a resume on fewer visible GPUs than the run
    saved with must not look for the others' (``set_rng_state_all`` raised
    ``IndexError`` there).
    """
    on_gpu = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if on_gpu else None,  # the current device's
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if isinstance(cuda, torch.Tensor) and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda)  # the current device: this process's own
