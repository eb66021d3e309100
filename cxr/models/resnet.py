"""ResNet50 (torchvision) with a 14-logit head: the seed project's earlier model, kept so
users can compare the old model with the new ones (``model.arch: resnet50``).

torchvision's layers are kept under their own names (``conv1`` ... ``layer4``), so its
ImageNet weights load by name. ``output_stride=16`` dilates the last stage instead of
striding it (torchvision's ``replace_stride_with_dilation``, parameter-free), which gives
GradCAM maps as fine as the DenseNets' at the default stride.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from cxr.config import ModelConfig
from cxr.models.layers import GrayToImageNet, fp32_linear

#: Channels of ResNet50's last stage.
WIDTH = 2048


class ResNet50Classifier(nn.Module):
    """Gray ``(B, 1, H, W)`` in [0, 1] -> logits ``(B, num_classes)``."""

    #: Parameter-name prefixes that ImageNet weights initialise.
    pretrained_prefixes = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4.")
    input_views = 1  # reads only the array (``forward(x)``)

    def __init__(
        self, num_classes: int = 14, dropout: float = 0.2, output_stride: int = 16
    ) -> None:
        super().__init__()
        if output_stride not in (16, 32):
            raise ValueError(f"output_stride must be 16 or 32, got {output_stride}")
        trunk = torchvision.models.resnet50(
            weights=None, replace_stride_with_dilation=[False, False, output_stride == 16]
        )
        self.input = GrayToImageNet()
        self.conv1, self.bn1, self.relu, self.maxpool = (
            trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool,
        )  # fmt: skip
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4,
        )  # fmt: skip
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(WIDTH, num_classes)
        nn.init.zeros_(self.classifier.bias)

    @classmethod
    def from_config(cls, config: ModelConfig, num_classes: int) -> ResNet50Classifier:
        return cls(num_classes, config.dropout, config.output_stride)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.input(x)))))  # (B, 64, H/4, W/4)
        x = self.layer2(self.layer1(x))  # (B, 512, H/8, W/8)
        return self.layer4(self.layer3(x))  # (B, 2048, H/s, W/s)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(features).flatten(1)  # (B, 2048)
        return fp32_linear(self.classifier, self.dropout(pooled))  # (B, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def cam_layers(self) -> list[nn.Module]:
        """Layers GradCAM hooks: the last bottleneck (its ReLU is the stage's output)."""
        return [self.layer4[-1]]
