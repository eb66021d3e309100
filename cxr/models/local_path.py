"""The local path: a second DenseNet121 looks at the region the global path attends to.

Following AG-CNN (Guan et al., "Diagnose like a radiologist: attention guided
convolutional neural network for thorax disease classification", 2018): the
global path's last feature maps give a heat map (the maximum absolute
activation over channels), thresholded at ``threshold`` of its range; the
bounding box of the hot cells is cropped from the *input image* (so detail lost
to downsampling comes back) and resized to the input size. AG-CNN keeps the
largest connected hot region; here the box spans all hot cells, which is the
same for the usual single region and needs no per-image loop. The box is
detached: gradients train the local network, not the crop position.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import roi_align

from cxr.models.backbone import densenet121_features
from cxr.models.cbam import cbam


def attention_boxes(
    features: torch.Tensor, image_size: int, threshold: float, min_share: float
) -> torch.Tensor:
    """``[B, 4]`` boxes ``x0, y0, x1, y1`` (input pixels) around the hot cells of ``features``.

    Boxes are at least ``min_share`` of the image side in each direction
    (grown about their centre, kept inside the image).
    """
    heat = features.detach().abs().amax(dim=1)  # [B, h, w]
    lo = heat.amin(dim=(1, 2), keepdim=True)
    hi = heat.amax(dim=(1, 2), keepdim=True)
    hot = (heat - lo) >= threshold * (hi - lo)
    rows, cols = hot.any(dim=2), hot.any(dim=1)  # [B, h], [B, w]
    h, w = heat.shape[1:]
    r0 = rows.float().argmax(dim=1)
    r1 = h - 1 - rows.flip(1).float().argmax(dim=1)
    c0 = cols.float().argmax(dim=1)
    c1 = w - 1 - cols.flip(1).float().argmax(dim=1)
    cell_y, cell_x = image_size / h, image_size / w
    boxes = torch.stack(
        [c0 * cell_x, r0 * cell_y, (c1 + 1) * cell_x, (r1 + 1) * cell_y], dim=1
    ).float()
    side = min_share * image_size
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = torch.maximum((boxes[:, 2:] - boxes[:, :2]) / 2, torch.full_like(centre, side / 2))
    centre = torch.minimum(torch.maximum(centre, half), image_size - half)  # keep inside
    return torch.cat([centre - half, centre + half], dim=1)


class LocalPath(nn.Module):
    """Attended crop of the input -> DenseNet121 (+ CBAM) -> pooled 1024-d features."""

    def __init__(
        self, output_stride: int, use_cbam: bool, threshold: float, min_share: float, size: int = 0
    ) -> None:
        super().__init__()
        self.threshold, self.min_share = threshold, min_share
        self.size = size  # side of the resized crop; 0: the input's side
        self.features = densenet121_features(output_stride)
        self.cbam = cbam(1024, use_cbam)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def crop(
        self, x: torch.Tensor, global_features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Crops ``[B, C, S, S]`` of the normalised input, and their boxes (input pixels)."""
        size = x.shape[-1]
        boxes = attention_boxes(global_features, size, self.threshold, self.min_share)
        index = torch.arange(len(x), device=x.device, dtype=boxes.dtype)[:, None]
        out = self.size or size
        crops = roi_align(
            x,
            torch.cat([index, boxes], 1).to(x.dtype),
            output_size=(out, out),
            spatial_scale=1.0,
            sampling_ratio=2,
            aligned=True,
        )
        return crops, boxes

    def forward(self, x: torch.Tensor, global_features: torch.Tensor) -> torch.Tensor:
        crops, _ = self.crop(x, global_features)
        f = self.relu(self.cbam(self.features(crops)))
        return self.pool(f).flatten(1)
