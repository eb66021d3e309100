"""Logits of a model over a preprocessed split or in-memory images: the one forward pass.

:class:`ForwardPass` holds what every pass needs besides the images (the model,
where it runs, the autocast dtype and the batch size), so evaluation, GradCAM,
the input guard and the predictor hand one object around instead of four.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cxr.batches import EpochBatches, SplitArrays, loader, to_device
from cxr.device import autocast
from cxr.distributed import current, gather_rows
from cxr.views import Views


@dataclass
class ForwardPass:
    """A model and how to run it: on ``device``, under autocast to ``dtype``
    (``cxr.device.compute_dtype`` of the model's precision), ``batch_size`` images at once."""

    model: nn.Module
    device: torch.device
    dtype: torch.dtype = torch.float32
    batch_size: int = 32

    @torch.no_grad()
    def logits(self, views: Views) -> np.ndarray:
        """Logits ``[N, C]`` of images already in memory (new files, chosen rows)."""
        self.model.eval()
        out = []
        for s in range(0, len(views), self.batch_size):
            batch = [self.tensor(a[s : s + self.batch_size]) for a in views.arrays]
            with autocast(self.device, self.dtype):
                out.append(self.model(*batch).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    @torch.no_grad()
    def split_logits(
        self, dataset: SplitArrays, workers: int = 0, desc: str | None = None
    ) -> np.ndarray:
        """Logits ``[N, C]`` of a preprocessed split in its row order, streamed from its
        memmaps. Under data-parallel training each process predicts its share of the rows
        and every process gets the whole array back."""
        world = current()
        self.model.eval()
        sampler = EpochBatches(
            len(dataset), self.batch_size, 0, shuffle=False, drop_last=False,
            rank=world.rank, world=world.size,
        )  # fmt: skip
        logits, rows = [], []
        batches = loader(dataset, sampler, workers, pin_memory=self.device.type == "cuda")
        for batch in tqdm(batches, desc=desc, disable=desc is None or not world.main, leave=False):
            views = [to_device(v, self.device, channels_last=True) for v in batch.views]
            with autocast(self.device, self.dtype):
                logits.append(self.model(*views).float().cpu().numpy())
            rows.append(batch.rows.numpy())
        local = np.concatenate(logits) if logits else np.zeros((0, 0), np.float32)
        local_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        if not world.active:
            return local
        return gather_rows(local, local_rows, len(dataset), world)

    def tensor(self, rows: np.ndarray) -> torch.Tensor:
        """uint8 rows ``[B, S, S]`` -> float ``[B, 1, S, S]`` in [0, 1] on the device."""
        return to_device(as_batch(rows), self.device, channels_last=True)


def as_batch(rows: np.ndarray) -> torch.Tensor:
    """uint8 rows ``[B, S, S]`` as a ``[B, 1, S, S]`` tensor."""
    return torch.from_numpy(np.ascontiguousarray(rows)).unsqueeze(1)
