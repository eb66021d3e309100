"""Data-parallel training across GPUs and nodes (``torchrun``), or a single process.

``torchrun --nproc_per_node=N -m stages.train`` sets RANK, WORLD_SIZE and
LOCAL_RANK; the same command without torchrun runs one process. Each process
trains on its share of every global batch (``batch_size`` rows per process),
DistributedDataParallel averages the gradients, and every process gathers the
full validation predictions, so all take the same early-stopping decision.
Only rank 0 writes checkpoints, logs and metrics, and only rank 0 reads what
decides a run (the resume fingerprint's hash of the data, ``last.pt``): it
hands the result to the others (:func:`from_main`), so nodes need no shared
filesystem and can never disagree about where the run stands.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def current() -> World:
    """This process's place in an initialised process group (one process otherwise)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def init_from_env(device_name: str) -> tuple[World, torch.device]:
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU); pick the device."""
    from cxr.device import pick_device

    size = int(os.environ.get("WORLD_SIZE", "1"))
    device = pick_device(device_name)
    if size <= 1:
        return World(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return current(), device


def finish() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


T = TypeVar("T")


def from_main(compute: Callable[[], T], world: World) -> T:
    """``compute()`` run on rank 0 only, its result returned on every process (one
    broadcast of the pickled value; tensors in it arrive where rank 0 had them). An error
    on rank 0 is raised on every process, so none waits for a broadcast that never comes."""
    if not world.active:
        return compute()
    outcome: tuple[bool, object] = (True, None)
    if world.main:
        try:
            outcome = (True, compute())
        except Exception as err:  # handed to the others, then raised here too
            outcome = (False, err)
    box = [outcome]
    dist.broadcast_object_list(box, src=0)
    ok, value = box[0]
    if not ok:
        if world.main:
            raise value
        raise RuntimeError(f"rank 0 failed: {type(value).__name__}: {value}") from value
    return value


def average_buffers(module: torch.nn.Module, world: World) -> None:
    """Replace ``module``'s floating-point buffers (BatchNorm's running statistics) with
    their mean over all processes, in one all-reduce.

    DDP runs with ``broadcast_buffers=False`` (no broadcast before every training
    forward), so each process's statistics follow its own rows; averaging them
    before validation makes every process validate, and rank 0 save, one model.
    """
    if not world.active:
        return
    floats = [b for b in module.buffers() if b.is_floating_point()]
    if not floats:
        return
    flat = torch.cat([b.detach().reshape(-1).double() for b in floats])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for b in floats:
        b.copy_(flat[offset : offset + b.numel()].view_as(b))
        offset += b.numel()


def gather_rows(values: np.ndarray, rows: np.ndarray, n: int, world: World) -> np.ndarray:
    """Reassemble each process's ``values`` of ``rows`` into one ``[n, ...]`` array on all."""
    if not world.active:
        out = np.empty((n, *values.shape[1:]), dtype=values.dtype)
        out[rows] = values
        return out
    parts: list = [None] * world.size
    dist.all_gather_object(parts, (values, rows))
    out = np.empty((n, *values.shape[1:]), dtype=values.dtype)
    for v, r in parts:
        out[r] = v
    return out
