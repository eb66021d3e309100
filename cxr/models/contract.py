"""What every classifier cxr builds is: a declared contract, and the names they register under.

Training, evaluation, GradCAM, the input guard and inference read a model only
through :class:`Classifier`, never through ``getattr`` with a default, so an
architecture that lacks a part fails the contract test (``tests/test_models.py``
runs every registered one through it), not a run. Each architecture builds
itself from the model config (``from_config``), and
:data:`cxr.models.registry.ARCHITECTURES` maps
``model.arch`` to it (``cxr.models.registry.build_model``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from cxr.config import ModelConfig


@runtime_checkable
class Classifier(Protocol):
    """``input_views`` gray arrays of each image, ``(B, 1, S, S)`` then any sharper view
    ``(B, 1, kS, kS)`` (``cxr.views``), in [0, 1] -> logits ``(B, C)``, as timm splits it:
    features, then head."""

    #: Parameter-name prefixes that ImageNet (or a cxr checkpoint's) weights initialise.
    pretrained_prefixes: tuple[str, ...]
    #: How many arrays of each image ``forward`` takes (``cxr.views.Views.arrays``).
    input_views: int

    @classmethod
    def from_config(cls, config: ModelConfig, num_classes: int) -> Classifier: ...

    def forward_features(self, x: torch.Tensor, *views: torch.Tensor) -> Any: ...

    def forward_head(self, features: Any) -> torch.Tensor: ...

    def forward(self, x: torch.Tensor, *views: torch.Tensor) -> torch.Tensor: ...

    def cam_layers(self) -> list[nn.Module]: ...
