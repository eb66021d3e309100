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


@torch.no_grad()
def cam_grids(model: nn.Module, size: int) -> list[int]:
    """Cells per side of each layer GradCAM hooks (``cam_layers()`` order), for ``size``-px
    inputs: e.g. [8, 4, 4] for the dual path at 64 px."""
    layers = model.cam_layers()
    cells: dict[int, int] = {}

    def recorder(i: int):
        def hook(module, args, out) -> None:  # returning a value would replace the output
            cells.setdefault(i, int(out.shape[-1]))

        return hook

    hooks = [layer.register_forward_hook(recorder(i)) for i, layer in enumerate(layers)]
    was_training = model.training
    try:
        model.eval()
        device = next(model.parameters()).device
        model(torch.zeros(1, 1, size, size, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return [cells[i] for i in range(len(layers))]
