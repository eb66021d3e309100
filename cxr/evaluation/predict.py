"""Logits of a model over a preprocessed split or in-memory images: the one forward pass."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cxr.batches import Batch, EpochBatches, SplitArrays, loader, to_device
from cxr.device import autocast
from cxr.distributed import current, gather_rows


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    dataset: SplitArrays,
    device: torch.device,
    batch_size: int = 128,
    workers: int = 0,
    desc: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> np.ndarray:
    """Logits ``[N, C]`` in the dataset's row order (model in eval mode, autocast to
    ``dtype``: ``cxr.device.compute_dtype`` of the model's precision).

    Under data-parallel training each process predicts its share of the rows and
    every process gets the whole array back.
    """
    world = current()
    model.eval()
    sampler = EpochBatches(
        len(dataset),
        batch_size,
        0,
        shuffle=False,
        drop_last=False,
        rank=world.rank,
        world=world.size,
    )
    logits, rows = [], []
    batches = loader(dataset, sampler, workers, pin_memory=device.type == "cuda")
    for batch in tqdm(batches, desc=desc, disable=desc is None or not world.main, leave=False):
        views = [to_device(v, device, channels_last=True) for v in _views(batch)]
        with autocast(device, dtype):
            logits.append(model(*views).float().cpu().numpy())
        rows.append(batch.rows.numpy())
    local = np.concatenate(logits) if logits else np.zeros((0, 0), np.float32)
    local_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if not world.active:
        return local
    return gather_rows(local, local_rows, len(dataset), world)


@torch.no_grad()
def logits_of_arrays(
    model: nn.Module,
    images: np.ndarray,
    device: torch.device,
    batch_size: int = 32,
    detail: np.ndarray | None = None,
    dtype: torch.dtype = torch.float32,
) -> np.ndarray:
    """Logits ``[N, C]`` of uint8 images ``[N, S, S]`` already in memory (new files), with
    their detail rows ``[N, D, D]`` for a model that reads them."""
    model.eval()
    out = []
    for s in range(0, len(images), batch_size):
        arrays = (images,) if detail is None else (images, detail)
        views = [
            to_device(as_batch(a[s : s + batch_size]), device, channels_last=True) for a in arrays
        ]
        with autocast(device, dtype):
            out.append(model(*views).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def as_batch(rows: np.ndarray) -> torch.Tensor:
    """uint8 rows ``[B, S, S]`` as a ``[B, 1, S, S]`` tensor."""
    return torch.from_numpy(np.ascontiguousarray(rows)).unsqueeze(1)


def _views(batch: Batch) -> list[torch.Tensor]:
    """What the model takes of a batch: the images, then the detail rows where there are."""
    return [batch.images] if batch.detail is None else [batch.images, batch.detail]
