"""The dual-path classifier: a global DenseNet121 with CBAM and a feature pyramid, plus a
local DenseNet121 on the region the global path attends to, fused into one head.

::

    x ─► norm ─► global DenseNet121 ─┬ block2 ─ CBAM ┐
                                     ├ block3 ─ CBAM ┼─► FPN ─► P3 P4 P5 ──┐
                                     └ block4 ─ CBAM ┴─► ReLU ─► pool ─────┤
         │                                     │ attention box            ├─► concat ─► head
         └────────► crop + resize ◄────────────┘                          │
                        └─► local DenseNet121 ─ CBAM ─ ReLU ─ pool ───────┘

Read top to bottom: the pyramid, the local path (its attention box, then its
network), the fusion and head, then the model. Each part can be switched off
(``cbam``, ``fpn``, ``local``) for ablations; docs/model.md has the design and
its sources. Shapes are for a batch of B gray images of side S, output stride s.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork, roi_align

from cxr.config import ModelConfig
from cxr.models.layers import (
    BLOCK_CHANNELS,
    FEATURES,
    GrayToImageNet,
    cbam,
    densenet121_features,
    fp32_linear,
    run_blocks,
)

#: The dense-block outputs the pyramid and the CBAM gates take, finest first, with channels.
LEVELS = tuple(BLOCK_CHANNELS.items())


class DenseNetFPN(nn.Module):
    """A feature pyramid (Lin et al., CVPR 2017) over the dense-block outputs.

    torchvision's ``FeaturePyramidNetwork`` does the work: 1x1 lateral
    projections, a top-down pathway with nearest upsampling and 3x3 smoothing, so
    every level carries the semantics of the deepest one at its own resolution.
    GradCAM averages the maps of all levels; the finest (1/8 of the input) has
    twice the resolution of the last dense block.
    """

    def __init__(self, out_channels: int = 256) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.fpn = FeaturePyramidNetwork([c for _, c in LEVELS], out_channels)

    def forward(self, blocks: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """``{block2: (B, 512, S/8, S/8), block3: (B, 1024, S/16, ..), block4: (B, 1024, S/s,
        ..)}`` -> three levels ``(B, out_channels, h_i, w_i)``, finest first."""
        ordered = OrderedDict((name, blocks[name]) for name, _ in LEVELS)
        return list(self.fpn(ordered).values())

    def level_layers(self) -> list[nn.Module]:
        """The modules whose outputs are the levels, finest first (GradCAM targets)."""
        return list(self.fpn.layer_blocks)


def attention_boxes(
    features: torch.Tensor, image_size: int, threshold: float, min_share: float
) -> torch.Tensor:
    """``(B, 4)`` boxes ``x0, y0, x1, y1`` (input pixels) around the hot cells of the global
    ``features`` ``(B, C, h, w)``: AG-CNN's heat map, the maximum absolute activation over
    channels, thresholded at ``threshold`` of its range.

    AG-CNN keeps the largest connected hot region; the box here spans all hot
    cells, which is the same for the usual single region and needs no per-image
    loop. Boxes are at least ``min_share`` of the image side in each direction
    (grown about their centre, kept inside the image), and detached: gradients
    train the local network, not the crop position.
    """
    # fp32 under bf16 autocast too: a bf16 threshold would move boxes by a cell
    heat = features.detach().float().abs().amax(dim=1)  # (B, h, w)
    lo = heat.amin(dim=(1, 2), keepdim=True)
    hi = heat.amax(dim=(1, 2), keepdim=True)
    hot = (heat - lo) >= threshold * (hi - lo)
    rows, cols = hot.any(dim=2), hot.any(dim=1)  # (B, h), (B, w)
    h, w = heat.shape[1:]
    r0 = rows.float().argmax(dim=1)
    r1 = h - 1 - rows.flip(1).float().argmax(dim=1)
    c0 = cols.float().argmax(dim=1)
    c1 = w - 1 - cols.flip(1).float().argmax(dim=1)
    cell_y, cell_x = image_size / h, image_size / w
    boxes = torch.stack(
        [c0 * cell_x, r0 * cell_y, (c1 + 1) * cell_x, (r1 + 1) * cell_y], dim=1
    ).float()  # (B, 4)
    side = min_share * image_size
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = torch.maximum((boxes[:, 2:] - boxes[:, :2]) / 2, torch.full_like(centre, side / 2))
    centre = torch.minimum(torch.maximum(centre, half), image_size - half)  # keep inside
    return torch.cat([centre - half, centre + half], dim=1)


class LocalPath(nn.Module):
    """The local path (after AG-CNN, Guan et al. 2018): the attended box cropped and
    resized, then DenseNet121 (+ CBAM) -> pooled ``(B, 1024)``.

    Without a detail array the crop comes from the same array the global path
    sees, enlarged with ``roi_align``: a closer look at what the global path
    attends to, but no pixels it did not have. With one (``(B, 3, D, D)``, D = k
    * S), the box is cut from it at k times the resolution: at 224 + 448 px a
    box of 40% of the side holds 179 real pixels a side instead of 90.
    """

    def __init__(
        self,
        output_stride: int,
        use_cbam: bool,
        threshold: float,
        min_share: float,
        size: int = 0,
        dilated: bool = True,
    ) -> None:
        super().__init__()
        self.threshold, self.min_share = threshold, min_share
        self.size = size  # side of the resized crop; 0: the input's side
        self.features = densenet121_features(output_stride, dilated)
        self.cbam = cbam(FEATURES, use_cbam)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def boxes(self, x: torch.Tensor, global_features: torch.Tensor) -> torch.Tensor:
        """The crop boxes ``(B, 4)`` in pixels of the input ``x`` ``(B, 3, S, S)``."""
        return attention_boxes(global_features, x.shape[-1], self.threshold, self.min_share)

    def crop(
        self, x: torch.Tensor, global_features: torch.Tensor, detail: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Crops ``(B, 3, L, L)`` (L: ``size`` or S) of the normalised input ``(B, 3, S, S)``,
        or of its ``detail`` ``(B, 3, D, D)`` where given, and their boxes ``(B, 4)`` in
        input pixels."""
        size = x.shape[-1]
        boxes = self.boxes(x, global_features)
        source = x if detail is None else detail
        # Each box's image: 0 .. B-1, from the batch's own shape, so an exported graph
        # (``cxr export``) keeps a dynamic batch instead of the traced one.
        index = torch.ones_like(boxes[:, :1]).cumsum(0) - 1  # (B, 1)
        out = self.size or size
        crops = roi_align(
            source,
            torch.cat([index, boxes], 1).to(source.dtype),
            output_size=(out, out),
            spatial_scale=source.shape[-1] / size,  # input pixels -> detail pixels: k
            sampling_ratio=2,
            aligned=True,
        )
        return crops, boxes

    def forward(
        self, x: torch.Tensor, global_features: torch.Tensor, detail: torch.Tensor | None = None
    ) -> torch.Tensor:
        crops, _ = self.crop(x, global_features, detail)  # (B, 3, L, L)
        f = self.relu(self.cbam(self.features(crops)))  # (B, 1024, L/s, L/s)
        return self.pool(f).flatten(1)  # (B, 1024)


class PooledConcat(nn.Module):
    """Maps ``(B, C_i, h_i, w_i)`` and vectors ``(B, D_j)`` -> ``(B, sum C_i + sum D_j)``.

    Global-average pooling each map and concatenating (rather than summing) lets
    the head weigh context (the whole-image path), detail (the local path) and
    scale (each pyramid level) separately.
    """

    def forward(self, maps: list[torch.Tensor], vectors: list[torch.Tensor]) -> torch.Tensor:
        pooled = [m.mean(dim=(2, 3)) for m in maps]
        return torch.cat(pooled + vectors, dim=1)


class ClassifierHead(nn.Module):
    """Dropout then a linear layer to the class logits, in fp32 (``layers.fp32_linear``)."""

    def __init__(self, in_features: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fp32_linear(self.fc, self.dropout(x))  # (B, D) -> (B, C)


class DualPathClassifier(nn.Module):
    """Gray ``(B, 1, S, S)`` in [0, 1] (and, with ``local_detail``, its detail ``(B, 1, D, D)``)
    -> logits ``(B, num_classes)``."""

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
        local_detail: bool = False,
        fpn_channels: int = 256,
        dilated: bool = True,
    ) -> None:
        super().__init__()
        # The local path crops from the detail array, the second of the model's views.
        self.input_views = 2 if use_local and local_detail else 1
        self.input = GrayToImageNet()
        self.global_features = densenet121_features(output_stride, dilated)
        self.cbam = nn.ModuleDict({name: cbam(c, use_cbam) for name, c in LEVELS})
        self.global_relu = nn.ReLU()  # explicit, not in place: a GradCAM target
        self.fpn = DenseNetFPN(fpn_channels) if use_fpn else None
        self.local = (
            LocalPath(output_stride, use_cbam, crop_threshold, crop_min_share, local_size, dilated)
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

    @classmethod
    def from_config(cls, config: ModelConfig, num_classes: int) -> DualPathClassifier:
        return cls(
            num_classes,
            config.dropout,
            config.output_stride,
            use_cbam=config.cbam,
            use_fpn=config.fpn,
            use_local=config.local_path,
            crop_threshold=config.crop_threshold,
            crop_min_share=config.crop_min_share,
            local_size=config.local_size,
            local_detail=config.local_detail,
            dilated=config.dilated,
        )

    def forward_features(
        self, x: torch.Tensor, detail: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Everything the head fuses: the global map, the pyramid levels, the local vector."""
        if self.input_views > 1 and detail is None:
            raise ValueError("this model crops its local path from the detail array: pass detail")
        z = self.input(x)  # (B, 3, S, S)
        blocks = run_blocks(self.global_features, z, lambda name, f: self.cbam[name](f))
        out = {"global": self.global_relu(blocks["block4"])}  # (B, 1024, S/s, S/s)
        if self.fpn is not None:
            for i, level in enumerate(self.fpn(blocks)):
                out[f"p{i + 3}"] = level  # (B, 256, S/8, S/8), (B, 256, S/16, ..), ...
        if self.local is not None:
            zd = self.input(detail) if self.input_views > 1 else None  # (B, 3, D, D)
            out["local"] = self.local(z, out["global"], zd)  # (B, 1024)
        return out

    def forward_head(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        maps = [v for k, v in features.items() if k != "local"]
        vectors = [features["local"]] if "local" in features else []
        return self.head(self.fuse(maps, vectors))  # (B, 1024 [+ 768] [+ 1024]) -> (B, C)

    def forward(self, x: torch.Tensor, detail: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, detail))

    def cam_layers(self) -> list[nn.Module]:
        """GradCAM targets: every pyramid level (maps averaged; the finest is 1/8) with the
        FPN, else the global ReLU. On the demo's validation boxes all levels beat P3 alone,
        P3+P4 and the global ReLU (docs/model.md)."""
        return self.fpn.level_layers() if self.fpn is not None else [self.global_relu]
