"""Probabilities of a model over a preprocessed split: the one inference path of the project."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cxr.device import autocast
from cxr.training.data import EpochBatches, SplitArrays, loader, to_device
from cxr.training.distributed import current, gather_rows


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    dataset: SplitArrays,
    device: torch.device,
    batch_size: int = 128,
    workers: int = 0,
    desc: str | None = None,
) -> np.ndarray:
    """Logits ``[N, C]`` in the dataset's row order (model in eval mode).

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
    for images, _, index in tqdm(
        batches, desc=desc, disable=desc is None or not world.main, leave=False
    ):
        x = to_device(images, device, channels_last=True)
        with autocast(device):
            logits.append(model(x).float().cpu().numpy())
        rows.append(index.numpy())
    local = np.concatenate(logits) if logits else np.zeros((0, 0), np.float32)
    local_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if not world.active:
        return local
    return gather_rows(local, local_rows, len(dataset), world)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))
