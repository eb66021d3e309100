"""Multi-scale feature fusion: pooled descriptors of every path and pyramid level, concatenated.

Global-average pooling each map and concatenating (rather than summing) lets
the head weigh context (the whole-image path), detail (the local path) and
scale (each pyramid level) separately.

The logits are computed in fp32 even under bf16 autocast: bf16 keeps 8 bits
of mantissa, which leaves a few hundred distinct logits per class over a test
set and moves probabilities by up to ~1e-3, enough to flip a call at a
threshold. The backbone may stay in bf16; the last linear layer is cheap.
"""

from __future__ import annotations

import torch
from torch import nn


class PooledConcat(nn.Module):
    """Maps ``[B, C_i, h_i, w_i]`` and vectors ``[B, D_j]`` -> ``[B, sum C_i + sum D_j]``."""

    def forward(self, maps: list[torch.Tensor], vectors: list[torch.Tensor]) -> torch.Tensor:
        pooled = [m.mean(dim=(2, 3)) for m in maps]
        return torch.cat(pooled + vectors, dim=1)


def fp32_linear(fc: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``fc(x)`` in fp32 whatever autocast is active: ``[B, D]`` -> fp32 ``[B, C]``."""
    with torch.autocast(x.device.type, enabled=False):
        return fc(x.float())


class ClassifierHead(nn.Module):
    """Dropout then a linear layer to the class logits (fp32: :func:`fp32_linear`)."""

    def __init__(self, in_features: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fp32_linear(self.fc, self.dropout(x))
