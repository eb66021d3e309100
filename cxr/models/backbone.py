"""torchvision's DenseNet121 features run block by block, with hooks between blocks.

The dual-path model needs the dense-block outputs (for the pyramid) and CBAM
gates after them, without copying torchvision's module: this runs its
children in order and hands each block output to a callback.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision
from torch import nn

#: Block outputs the callback sees: dense blocks 2 and 3, and the final norm (block 4).
TAPS = {"denseblock2": "block2", "denseblock3": "block3", "norm5": "block4"}


def densenet121_features(output_stride: int = 16) -> nn.Sequential:
    """torchvision's DenseNet121 ``features``; stride 16 drops the last transition's pooling."""
    if output_stride not in (16, 32):
        raise ValueError(f"output_stride must be 16 or 32, got {output_stride}")
    features = torchvision.models.densenet121(weights=None).features
    if output_stride == 16:
        features.transition3.pool = nn.Identity()
    return features


def run_blocks(
    features: nn.Sequential, x: torch.Tensor, at_tap: Callable[[str, torch.Tensor], torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Run ``features`` on ``x``; after each tapped child ``at_tap(name, out)`` may replace it.

    Returns the (replaced) outputs of the taps by their short names.
    """
    taps = {}
    for name, module in features.named_children():
        x = module(x)
        if name in TAPS:
            x = at_tap(TAPS[name], x)
            taps[TAPS[name]] = x
    return taps
