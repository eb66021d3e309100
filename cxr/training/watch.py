"""The training loss, watched on the device so that the CPU can run ahead of the GPU.

Each step adds its loss to a device tensor and marks the first non-finite one
there; nothing is read back. Every ``check_every`` steps and at the end of the
epoch the host reads them in one transfer (under DDP after one ``all_gather``,
so every process sees every process's losses and all stop together). A loss
that became NaN at step 7 is still reported as step 7 when it is read at step
50; the weights after it are lost either way, and the last good checkpoint is
the previous epoch's ``last.pt``.

Example::

    watch = LossWatch(torch.device("cpu"), World(), every=2, epoch=0, first_step=0)
    for loss in (torch.tensor(0.5), torch.tensor(0.3)):
        watch.add(loss)
        if watch.due():
            watch.check()            # 0.4: the mean since the last check
    watch.epoch_mean()               # 0.4, over every step of every process
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from cxr.distributed import World


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class LossWatch:
    """One epoch's losses on ``device``: their sum, the sum since the last check, and the
    first non-finite step (-1: none) with its value."""

    def __init__(
        self, device: torch.device, world: World, every: int, epoch: int, first_step: int
    ) -> None:
        self.world, self.every, self.epoch, self.first_step = world, every, epoch, first_step
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.bad_value = torch.zeros((), dtype=torch.float64, device=device)
        self.bad_step = torch.full((), -1, dtype=torch.int64, device=device)
        self.steps = 0
        self._checked = (0, 0.0)  # steps and this process's total at the last check
        self._table: tuple[int, list[list[float]]] | None = None  # the last read, at its step

    def add(self, loss: torch.Tensor) -> None:
        """Count one step's (detached, scalar) loss; no host sync."""
        loss = loss.double()
        newly = (self.bad_step < 0) & ~torch.isfinite(loss)
        self.bad_step = torch.where(newly, self.steps, self.bad_step)
        self.bad_value = torch.where(newly, loss, self.bad_value)
        self.total = self.total + loss
        self.steps += 1

    def due(self) -> bool:
        return self.steps % self.every == 0

    def check(self) -> float:
        """Read the losses (the one host sync); raise :class:`TrainingDiverged` naming the
        first non-finite step of any process, else return this process's mean loss since
        the last check."""
        total = self._read()[self.world.rank][2]
        steps, before = self._checked
        self._checked = (self.steps, total)
        return (total - before) / max(self.steps - steps, 1)

    def epoch_mean(self) -> float:
        """Check as :meth:`check` does; return the mean loss over every step of every process
        (each takes as many steps: ``drop_last`` and equal shards). Right after a check it
        reuses that read."""
        table = self._read()
        return sum(r[2] for r in table) / (self.steps * len(table)) if self.steps else math.nan

    def _read(self) -> list[list[float]]:
        """Rows ``[bad_step, bad_value, total]``, one per process, read in one transfer (or
        the last read, if no step came since); raises :class:`TrainingDiverged` if any
        process has a non-finite loss."""
        if self._table is not None and self._table[0] == self.steps:
            return self._table[1]
        local = torch.stack([self.bad_step.double(), self.bad_value, self.total])
        if self.world.active:
            rows = [torch.empty_like(local) for _ in range(self.world.size)]
            dist.all_gather(rows, local)
            local = torch.stack(rows)
        table = local.reshape(-1, 3).tolist()
        bad = [(int(r[0]), r[1], rank) for rank, r in enumerate(table) if r[0] >= 0]
        if bad:
            step, value, rank = min(bad)
            where = f" on process {rank}" if self.world.active else ""
            raise TrainingDiverged(
                f"loss is {value} at epoch {self.epoch + 1}, step "
                f"{self.first_step + step + 1}{where}"
            )
        self._table = (self.steps, table)
        return table
