"""The model's own input step: gray [0, 1] images to normalised 3-channel ImageNet input.

Part of the model (not of the data loader) so that training, evaluation,
prediction and GradCAM can never disagree about it, and a checkpoint carries it.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GrayToImageNet(nn.Module):
    """``[B, 1, H, W]`` in [0, 1] -> ``[B, 3, H, W]`` normalised with ImageNet statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 1:
            raise ValueError(f"expected gray images [B, 1, H, W], got {tuple(x.shape)}")
        return (x - self.mean) / self.std  # broadcasting makes the 3 channels
