"""The dual-path classifier: a global DenseNet121 with CBAM and a feature pyramid, plus a
local DenseNet121 on the region the global path attends to, fused into one head.

::

    x ─► norm ─► global DenseNet121 ─┬ block2 ─ CBAM ┐
                                     ├ block3 ─ CBAM ┼─► FPN ─► P3 P4 P5 ──┐
                                     └ block4 ─ CBAM ┴─► ReLU ─► pool ─────┤
         │                                     │ attention box            ├─► concat ─► head
         └────────► crop + resize ◄────────────┘                          │
                        └─► local DenseNet121 ─ CBAM ─ ReLU ─ pool ───────┘

Each part can be switched off (``cbam``, ``fpn``, ``local``) for ablations;
see docs/model.md for the design and its sources.
"""

from __future__ import annotations

import torch
from torch import nn

from cxr.models.backbone import densenet121_features, run_blocks
from cxr.models.cbam import cbam
from cxr.models.fpn import LEVELS, DenseNetFPN
from cxr.models.fusion import ClassifierHead, PooledConcat
from cxr.models.input import GrayToImageNet
from cxr.models.local_path import LocalPath

FEATURES = 1024


class DualPathClassifier(nn.Module):
    """Gray ``[B, 1, H, W]`` in [0, 1] -> logits ``[B, num_classes]``."""

    #: Both DenseNets start from the same pretrained weights.
    pretrained_prefixes = ("global_features.", "local.features.")

    def __init__(
        self,
        num_classes: int = 14,
        dropout: float = 0.2,
        output_stride: int = 16,
        use_cbam: bool = True,
        use_fpn: bool = True,
        use_local: bool = True,
        crop_threshold: float = 0.7,
        crop_min_share: float = 0.4,
        local_size: int = 0,
        fpn_channels: int = 256,
    ) -> None:
        super().__init__()
        self.input = GrayToImageNet()
        self.global_features = densenet121_features(output_stride)
        self.cbam = nn.ModuleDict({name: cbam(c, use_cbam) for name, c in LEVELS})
        self.global_relu = nn.ReLU()  # explicit, not in place: a GradCAM target
        self.fpn = DenseNetFPN(fpn_channels) if use_fpn else None
        self.local = (
            LocalPath(output_stride, use_cbam, crop_threshold, crop_min_share, local_size)
            if use_local
            else None
        )
        self.fuse = PooledConcat()
        width = (
            FEATURES
            + (len(LEVELS) * fpn_channels if use_fpn else 0)
            + (FEATURES if use_local else 0)
        )
        self.head = ClassifierHead(width, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Everything the head fuses: global map, pyramid levels, local vector."""
        z = self.input(x)
        blocks = run_blocks(self.global_features, z, lambda name, f: self.cbam[name](f))
        out = {"global": self.global_relu(blocks["block4"])}
        if self.fpn is not None:
            for i, level in enumerate(self.fpn(blocks)):
                out[f"p{i + 3}"] = level
        if self.local is not None:
            out["local"] = self.local(z, out["global"])
        return out

    def forward_head(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        maps = [v for k, v in features.items() if k != "local"]
        vectors = [features["local"]] if "local" in features else []
        return self.head(self.fuse(maps, vectors))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def cam_layers(self) -> list[nn.Module]:
        """GradCAM targets: every pyramid level (maps averaged; the finest is 1/8) with the
        FPN, else the global ReLU. On the demo's validation boxes all levels beat P3 alone,
        P3+P4 and the global ReLU (docs/model.md)."""
        return self.fpn.level_layers() if self.fpn is not None else [self.global_relu]

    def attention_boxes(self, x: torch.Tensor) -> torch.Tensor:
        """The local path's crop boxes for ``x`` (input pixels), for inspection."""
        if self.local is None:
            raise ValueError("this model has no local path")
        return self.local.crop(self.input(x), self.forward_features(x)["global"])[1]
