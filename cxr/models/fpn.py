"""A feature pyramid (Lin et al., CVPR 2017) over the DenseNet dense-block outputs.

torchvision's ``FeaturePyramidNetwork`` does the work: 1x1 lateral
projections, a top-down pathway with nearest upsampling and 3x3 smoothing, so
every level carries the semantics of the deepest one at its own resolution.
GradCAM averages the maps of all levels; the finest (1/8 of the input) has
twice the resolution of the last dense block.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

#: DenseNet121 dense-block outputs fed to the pyramid: block 2 (1/8), block 3 (1/16), block 4.
LEVELS = (("block2", 512), ("block3", 1024), ("block4", 1024))


class DenseNetFPN(nn.Module):
    """Block outputs ``{name: [B, C, h, w]}`` -> pyramid levels, finest first."""

    def __init__(self, out_channels: int = 256) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.fpn = FeaturePyramidNetwork([c for _, c in LEVELS], out_channels)

    def forward(self, blocks: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        ordered = OrderedDict((name, blocks[name]) for name, _ in LEVELS)
        return list(self.fpn(ordered).values())

    def level_layers(self) -> list[nn.Module]:
        """The modules whose outputs are the levels, finest first (GradCAM targets)."""
        return list(self.fpn.layer_blocks)
