"""What both classifiers are built from: the gray-to-ImageNet input step, torchvision's
DenseNet121 features (run whole, or block by block with a hook between blocks; optionally
checkpointed to save memory), CBAM, and a linear layer kept in fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torchvision
from timm.layers.cbam import CbamModule
from torch import nn
from torch.utils import checkpoint
from torchvision.models.densenet import _DenseLayer

#: Channels of DenseNet121's last feature map (dense block 4 after ``norm5``).
FEATURES = 1024
#: Block outputs :func:`run_blocks` hands to its hook: dense blocks 2 (512 channels, 1/8 of
#: the input) and 3 (1024, 1/16), and the final norm (block 4: ``FEATURES``, 1/16 or 1/32).
TAPS = {"denseblock2": "block2", "denseblock3": "block3", "norm5": "block4"}
BLOCK_CHANNELS = {"block2": 512, "block3": 1024, "block4": FEATURES}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GrayToImageNet(nn.Module):
    """``(B, 1, H, W)`` in [0, 1] -> ``(B, 3, H, W)`` normalised with ImageNet statistics.

    Part of the model (not of the data loader) so that training, evaluation,
    prediction and GradCAM can never disagree about it, and a checkpoint carries it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 1:
            raise ValueError(f"expected gray images [B, 1, H, W], got {tuple(x.shape)}")
        return (x - self.mean) / self.std  # broadcasting makes the 3 channels


def densenet121_features(output_stride: int = 16, dilated: bool = True) -> nn.Sequential:
    """torchvision's DenseNet121 ``features``: ``(B, 3, H, W)`` -> ``(B, 1024, H/s, W/s)``.

    ``output_stride=16`` removes the average pooling of the last transition
    (parameter-free, so ImageNet weights load unchanged): the last dense block
    runs at 1/16 of the input, so GradCAM maps are twice as fine (4x4 at 64 px,
    14x14 at 224 px) for a small cost. ``dilated`` then dilates dense block 4's 3x3
    convolutions by 2 (DeepLab's way, and torchvision's ResNet with
    ``replace_stride_with_dilation``): each filter tap lands where it landed at stride
    32, so pretrained filters see the spacing they learned, and the receptive field is
    torchvision's. Undilated, they would read neighbours half as far apart (as cxr's
    checkpoints before 2026-12 did). ``32`` is torchvision's.
    """
    if output_stride not in (16, 32):
        raise ValueError(f"output_stride must be 16 or 32, got {output_stride}")
    features = torchvision.models.densenet121(weights=None).features
    if output_stride == 16:
        features.transition3.pool = nn.Identity()
        if dilated:
            for layer in features.denseblock4.values():
                layer.conv2.dilation, layer.conv2.padding = (2, 2), (2, 2)
    return features


class CheckpointedDenseLayer(_DenseLayer):
    """torchvision's dense layer with its bottleneck (concatenation, BatchNorm, ReLU, 1x1
    convolution) recomputed in backward instead of kept: the memory of the concatenated
    inputs, which grows with the square of the block's depth, is not held (torchvision's
    ``memory_efficient``, Pleiss et al. 2017).

    One fix over torchvision's: its recomputation runs ``norm1`` in training mode a
    second time, so every step counts the batch twice in that layer's running statistics
    and the evaluated model differs from the unchecked one. Here the recomputation's
    update of them is undone, so training gives bit-identical weights and statistics
    with and without it.
    """

    def call_checkpoint_bottleneck(self, input: list[torch.Tensor]) -> torch.Tensor:
        def closure(*inputs: torch.Tensor) -> torch.Tensor:
            return self.bn_function(list(inputs))

        def contexts():
            return contextlib.nullcontext(), _statistics_frozen(self.norm1)

        return checkpoint.checkpoint(closure, *input, use_reentrant=False, context_fn=contexts)


@contextlib.contextmanager
def _statistics_frozen(norm: nn.BatchNorm2d) -> Iterator[None]:
    """Whatever ``norm`` does to its running statistics inside is undone on the way out
    (the recomputation must save the same tensors as the forward, so it runs alike)."""
    kept = [b.clone() for b in norm.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(norm.buffers(), kept, strict=True):
                buffer.copy_(value)


def checkpoint_dense_layers(module: nn.Module) -> int:
    """Make every DenseNet layer of ``module`` a :class:`CheckpointedDenseLayer`, in place
    (parameter names and values unchanged); return how many."""
    layers = [m for m in module.modules() if isinstance(m, _DenseLayer)]
    for layer in layers:
        layer.__class__ = CheckpointedDenseLayer
        layer.memory_efficient = True
    return len(layers)


def run_blocks(
    features: nn.Sequential, x: torch.Tensor, at_tap: Callable[[str, torch.Tensor], torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Run ``features`` on ``x``; after each of the :data:`TAPS` ``at_tap(name, out)`` may
    replace its output (the dual path's CBAM gates). Returns the tapped outputs by name.

    Running torchvision's children in order keeps its module (and its weights' names)
    instead of copying it.
    """
    taps = {}
    for name, module in features.named_children():
        x = module(x)
        if name in TAPS:
            x = at_tap(TAPS[name], x)
            taps[TAPS[name]] = x
    return taps


def cbam(channels: int, enabled: bool = True, reduction: int = 16) -> nn.Module:
    """CBAM (Woo et al., ECCV 2018: a shared MLP over average- and max-pooled channel
    descriptors, then a 7x7 convolution over channel-pooled maps, each a sigmoid gate) from
    timm's ``CbamModule``; ``nn.Identity`` when disabled. Keeps the shape ``(B, C, h, w)``."""
    return CbamModule(channels, rd_ratio=1.0 / reduction) if enabled else nn.Identity()


def fp32_linear(fc: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``fc(x)`` in fp32 whatever autocast is active: ``(B, D)`` -> fp32 ``(B, C)``.

    Logits in bf16 keep 8 bits of mantissa, which leaves a few hundred distinct
    logits per class over a test set and moves probabilities by up to ~1e-3,
    enough to flip a call at a threshold. The backbone may stay in bf16; the last
    linear layer is cheap.
    """
    with torch.autocast(x.device.type, enabled=False):
        return fc(x.float())
