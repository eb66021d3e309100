"""GradCAM maps per (image, class) through pytorch-grad-cam, in batches.

Targets are the class *logits* (a saturated sigmoid has no gradient and gives
an empty map). pytorch-grad-cam sums one target per image, so a batch may mix
classes; fewer targets than images would silently give zero maps, hence the
check. The model's ``cam_layers()`` names the layers to hook (an explicit,
not in-place ReLU at the end of the features). Under bf16 autocast the hooked
activations and gradients are bf16; they are read as fp32 (numpy has no bf16).
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from tqdm.auto import tqdm

from cxr.device import autocast


class _WithDetail(nn.Module):
    """``model(x, detail)`` under autocast to ``dtype``, as the one-input module
    pytorch-grad-cam calls; ``detail`` is set per batch. The hooked layers stay the
    model's own."""

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.detail: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, self.dtype):
            return self.model(x) if self.detail is None else self.model(x, self.detail)


def gradcam_maps(
    model: nn.Module,
    images: np.ndarray,
    classes: np.ndarray,
    device: torch.device,
    batch_size: int = 32,
    desc: str | None = None,
    detail: np.ndarray | None = None,
    dtype: torch.dtype = torch.float32,
) -> np.ndarray:
    """Maps ``[N, S, S]`` in [0, 1] for uint8 images ``[N, S, S]`` and class indices ``[N]``
    (with the images' detail rows ``[N, D, D]`` for a model that reads them), the model
    under autocast to ``dtype``."""
    if len(images) != len(classes):
        raise ValueError(f"{len(images)} images but {len(classes)} classes: one class per image")
    model = model.to(device).eval()
    wrapped = _WithDetail(model, dtype)
    out = np.zeros(images.shape, dtype=np.float32)
    layers = model.cam_layers()
    with GradCAM(model=wrapped, target_layers=layers, reshape_transform=_fp32) as cam:
        for s in tqdm(
            range(0, len(images), batch_size), desc=desc, disable=desc is None, leave=False
        ):
            x = _float(images[s : s + batch_size], device)
            wrapped.detail = None if detail is None else _float(detail[s : s + batch_size], device)
            targets = [ClassifierOutputTarget(int(k)) for k in classes[s : s + batch_size]]
            out[s : s + len(x)] = cam(input_tensor=x, targets=targets)
    return out


def _fp32(t: torch.Tensor) -> torch.Tensor:
    return t.float()


def _float(rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 rows ``[B, S, S]`` -> float ``[B, 1, S, S]`` in [0, 1] on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(rows)).float().div_(255.0)
    return x.unsqueeze(1).to(device)


@torch.no_grad()
def cam_grids(model: nn.Module, size: int, detail_size: int = 0) -> list[int]:
    """Cells per side of each layer GradCAM hooks (``cam_layers()`` order), for ``size``-px
    inputs (and ``detail_size``-px detail, for a model that reads it): e.g. [8, 4, 4] for
    the dual path at 64 px."""
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
        sides = (size, detail_size) if detail_size else (size,)
        model(*(torch.zeros(1, 1, side, side, device=device) for side in sides))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return [cells[i] for i in range(len(layers))]
