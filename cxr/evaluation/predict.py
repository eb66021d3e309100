"""Probabilities of a model over a preprocessed split: the one inference path of the project."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cxr.device import autocast
from cxr.training.data import EpochBatches, SplitArrays, loader, to_device


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    dataset: SplitArrays,
    device: torch.device,
    batch_size: int = 128,
    workers: int = 0,
    desc: str | None = None,
) -> np.ndarray:
    """Logits ``[N, C]`` in the dataset's row order (model in eval mode)."""
    model.eval()
    sampler = EpochBatches(len(dataset), batch_size, seed=0, shuffle=False, drop_last=False)
    out = []
    batches = loader(dataset, sampler, workers, pin_memory=device.type == "cuda")
    for images, _, _ in tqdm(batches, desc=desc, disable=desc is None, leave=False):
        x = to_device(images, device, channels_last=True)
        with autocast(device):
            out.append(model(x).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))
