"""Batch augmentation on the device: random resized crop, rotation, brightness/contrast, flip,
applied alike to every view of the same images (``cxr.views``).

One ``affine_grid`` / ``grid_sample`` per batch does crop, rotation and flip
together, so augmentation costs the GPU almost nothing and the loader only
copies uint8 rows. Random draws come from an explicit generator, so a resumed
run repeats them exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cxr.config import AugmentConfig


def augment(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Augment a float batch ``(B, 1, H, W)`` in [0, 1]; returns the same shape, clipped."""
    return augment_views([x], config, generator)[0]


def augment_views(
    views: list[torch.Tensor], config: AugmentConfig, generator: torch.Generator
) -> list[torch.Tensor]:
    """Augment views of the same images at different sides (``(B, 1, S, S)``, then any
    sharper view ``(B, 1, kS, kS)``) with one draw per image: the same crop, rotation and flip,
    in the normalised coordinates both share, so a box lands on the same anatomy in each,
    and the same brightness and contrast about the first view's mean."""
    first = views[0]
    b, device = first.shape[0], first.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (
            torch.rand(b, generator=generator, device=generator.device).to(device) * (hi - lo) + lo
        )

    scale = uniform(config.crop_scale_min, 1.0)
    log_ratio = uniform(-math.log(config.crop_ratio), math.log(config.crop_ratio))
    ratio = torch.exp(log_ratio)
    sx = torch.sqrt(scale * ratio).clamp(max=1.0)  # crop width as a share of the image
    sy = torch.sqrt(scale / ratio).clamp(max=1.0)
    tx = uniform(-1.0, 1.0) * (1 - sx)  # crop centre, in [-1, 1] grid units
    ty = uniform(-1.0, 1.0) * (1 - sy)
    angle = uniform(-config.rotation_deg, config.rotation_deg) * (math.pi / 180.0)
    flip = torch.where(uniform(0.0, 1.0) < config.hflip, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos * sx * flip, -sin * sy, tx], dim=1),
            torch.stack([sin * sx * flip, cos * sy, ty], dim=1),
        ],
        dim=1,
    ).to(first.dtype)  # (B, 2, 3)
    warped = [
        F.grid_sample(
            v,
            F.affine_grid(theta, list(v.shape), align_corners=False),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        for v in views
    ]
    mean = warped[0].mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    gain = uniform(1 - config.contrast, 1 + config.contrast).view(b, 1, 1, 1).to(first.dtype)
    shift = uniform(-config.brightness, config.brightness).view(b, 1, 1, 1).to(first.dtype)
    return [((w - mean) * gain + mean + shift).clamp(0.0, 1.0) for w in warped]
