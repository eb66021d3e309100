"""GradCAM maps per (image, class) through pytorch-grad-cam, in batches.

Targets are the class *logits* (a saturated sigmoid has no gradient and gives
an empty map). pytorch-grad-cam sums one target per image, so a batch may mix
classes; fewer targets than images would silently give zero maps, hence the
check. The model's ``cam_layers()`` names the layers to hook (an explicit,
not in-place ReLU at the end of the features).
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from tqdm.auto import tqdm


def gradcam_maps(
    model: nn.Module,
    images: np.ndarray,
    classes: np.ndarray,
    device: torch.device,
    batch_size: int = 32,
    desc: str | None = None,
) -> np.ndarray:
    """Maps ``[N, H, W]`` in [0, 1] for uint8 images ``[N, H, W]`` and class indices ``[N]``."""
    if len(images) != len(classes):
        raise ValueError(f"{len(images)} images but {len(classes)} classes: one class per image")
    model = model.to(device).eval()
    out = np.zeros(images.shape, dtype=np.float32)
    with GradCAM(model=model, target_layers=model.cam_layers()) as cam:
        for s in tqdm(
            range(0, len(images), batch_size), desc=desc, disable=desc is None, leave=False
        ):
            x = (
                torch.from_numpy(np.ascontiguousarray(images[s : s + batch_size]))
                .float()
                .div_(255.0)
            )
            x = x.unsqueeze(1).to(device)
            targets = [ClassifierOutputTarget(int(k)) for k in classes[s : s + batch_size]]
            out[s : s + len(x)] = cam(input_tensor=x, targets=targets)
    return out
