"""DenseNet121 (torchvision) with a 14-logit head: the baseline classifier (CheXNet's backbone).

Two changes to torchvision's module, both parameter-free so ImageNet weights
load unchanged: the features end in an explicit, not in-place ``nn.ReLU``
module (torchvision applies ``F.relu(..., inplace=True)`` in ``forward``, which
corrupts what a backward hook on ``norm5`` sees, so GradCAM targets this module
instead), and ``output_stride`` with dense block 4 ``dilated`` (``layers.densenet121_features``).
"""

from __future__ import annotations

import torch
from torch import nn

from cxr.config import ModelConfig
from cxr.models.layers import FEATURES, GrayToImageNet, densenet121_features, fp32_linear


class DenseNet121Classifier(nn.Module):
    """Gray ``(B, 1, H, W)`` in [0, 1] -> logits ``(B, num_classes)``."""

    #: Parameter-name prefixes that ImageNet weights initialise.
    pretrained_prefixes = ("features.",)
    input_views = 1  # reads only the array (``forward(x)``)

    def __init__(
        self,
        num_classes: int = 14,
        dropout: float = 0.2,
        output_stride: int = 16,
        dilated: bool = True,
    ) -> None:
        super().__init__()
        self.input = GrayToImageNet()
        self.features = densenet121_features(output_stride, dilated)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(FEATURES, num_classes)
        nn.init.zeros_(self.classifier.bias)

    @classmethod
    def from_config(cls, config: ModelConfig, num_classes: int) -> DenseNet121Classifier:
        return cls(num_classes, config.dropout, config.output_stride, config.dilated)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.features(self.input(x)))  # (B, 1024, H/s, W/s)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(features).flatten(1)  # (B, 1024)
        return fp32_linear(self.classifier, self.dropout(pooled))  # (B, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def cam_layers(self) -> list[nn.Module]:
        """Layers GradCAM hooks: the explicit ReLU ending the features."""
        return [self.relu]
