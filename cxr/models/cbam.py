"""CBAM, the convolutional block attention module (Woo et al., ECCV 2018), from timm.

Channel attention (a shared MLP over average- and max-pooled descriptors) then
spatial attention (a 7x7 convolution over channel-pooled maps), each a sigmoid
gate multiplied into the features. timm's ``CbamModule`` is the implementation;
this module only fixes how cxr builds it, or an identity when switched off.
"""

from __future__ import annotations

from timm.layers.cbam import CbamModule
from torch import nn


def cbam(channels: int, enabled: bool = True, reduction: int = 16) -> nn.Module:
    """CBAM gating ``channels`` feature maps, or ``nn.Identity`` when disabled."""
    return CbamModule(channels, rd_ratio=1.0 / reduction) if enabled else nn.Identity()
