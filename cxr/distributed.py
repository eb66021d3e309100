"""Data-parallel training across GPUs and nodes (``torchrun``), or a single process.

``torchrun --nproc_per_node=N -m stages.train`` sets RANK, WORLD_SIZE and
LOCAL_RANK; the same command without torchrun runs one process. Each process
trains on its share of every global batch (``batch_size`` rows per process),
DistributedDataParallel averages the gradients, and every process gathers the
full validation predictions, so all take the same early-stopping decision.
Only rank 0 writes checkpoints, logs and metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def mean(value: float, world: World, device: torch.device) -> float:
    """The mean of ``value`` over all processes."""
    if not world.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / world.size


def any_true(flag: bool, world: World, device: torch.device) -> bool:
    """Whether any process has ``flag`` set (so all stop together)."""
    if not world.active:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


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
