"""Multi-scale feature fusion: pooled descriptors of every path and pyramid level, concatenated.

Global-average pooling each map and concatenating (rather than summing) lets
the head weigh context (the whole-image path), detail (the local path) and
scale (each pyramid level) separately.
"""

from __future__ import annotations

import torch
from torch import nn


class PooledConcat(nn.Module):
    """Maps ``[B, C_i, h_i, w_i]`` and vectors ``[B, D_j]`` -> ``[B, sum C_i + sum D_j]``."""

    def forward(self, maps: list[torch.Tensor], vectors: list[torch.Tensor]) -> torch.Tensor:
        pooled = [m.mean(dim=(2, 3)) for m in maps]
        return torch.cat(pooled + vectors, dim=1)


class ClassifierHead(nn.Module):
    """Dropout then a linear layer to the class logits."""

    def __init__(self, in_features: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(x))
