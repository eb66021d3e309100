"""GradCAM maps per (image, class) through pytorch-grad-cam, in batches.

Targets are the class *logits* (a saturated sigmoid has no gradient and gives
an empty map). pytorch-grad-cam sums one target per image, so a batch may mix
classes; fewer targets than images would silently give zero maps, hence the
check. The model's ``cam_layers()`` names the layers to hook (an explicit,
not in-place ReLU at the end of the features). Under bf16 autocast the hooked
activations and gradients are bf16; they are read as fp32 (numpy has no bf16).

The dual path's local path has its own map (:func:`local_maps`): GradCAM at its
last ReLU, over the crop it looked at, put back into the image frame through
the crop box. :func:`fuse` combines it with the global map.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from tqdm.auto import tqdm

from cxr.device import autocast, place
from cxr.evaluation.predict import ForwardPass
from cxr.views import Views


class _WithViews(nn.Module):
    """``model(x, *further)`` under autocast to ``dtype``, as the one-input module
    pytorch-grad-cam calls; ``further`` (the image's other views, ``cxr.views``) is set
    per batch. The hooked layers stay the model's own."""

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.further: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, self.dtype):
            return self.model(x, *self.further)


def gradcam_maps(
    run: ForwardPass,
    views: Views,
    classes: np.ndarray,
    *,
    desc: str | None = None,
    layers: list[nn.Module] | None = None,
) -> np.ndarray:
    """Maps ``[N, S, S]`` in [0, 1] for the images of ``views`` and class indices ``[N]``,
    the model under ``run``'s autocast and batch size; of ``layers`` (default:
    ``model.cam_layers()``), each map resized to the input side and their mean rescaled,
    pytorch-grad-cam's rule."""
    if len(views) != len(classes):
        raise ValueError(f"{len(views)} images but {len(classes)} classes: one class per image")
    model = place(run.model, run.device).eval()
    wrapped = _WithViews(model, run.dtype)
    out = np.zeros(views.images.shape, dtype=np.float32)
    layers = layers or model.cam_layers()
    step = run.batch_size
    with GradCAM(model=wrapped, target_layers=layers, reshape_transform=_fp32) as cam:
        for s in tqdm(range(0, len(views), step), desc=desc, disable=desc is None, leave=False):
            x, *wrapped.further = (run.tensor(a[s : s + step]) for a in views.arrays)
            targets = [ClassifierOutputTarget(int(k)) for k in classes[s : s + step]]
            out[s : s + len(x)] = cam(input_tensor=x, targets=targets)
            _release(cam)
    return out


def _release(cam: GradCAM) -> None:
    """Drop what pytorch-grad-cam keeps of the batch it just explained: its output, whose
    graph backward retained, and the hooked activations and gradients. Otherwise they
    live on while the next batch builds its own graph, doubling the peak memory."""
    cam.outputs = None
    cam.activations_and_grads.activations = []
    cam.activations_and_grads.gradients = []


def has_local_map(model: nn.Module) -> bool:
    """Whether ``model`` has a local path whose map :func:`local_maps` can draw."""
    return getattr(model, "local", None) is not None


def local_maps(run: ForwardPass, views: Views, classes: np.ndarray) -> np.ndarray:
    """The local path's GradCAM in the image frame, ``[N, S, S]`` in [0, 1]: zero outside
    each image's crop box, the map over the crop resized into it inside.

    The map is GradCAM at the local path's last ReLU for the class logit: its
    ``L/s`` cells span the crop, so a 40% crop gets cells 2.5 times finer than the
    global map's. The boxes are the ones the model cropped in the same forward pass.
    """
    boxes: list[np.ndarray] = []

    def record(module, args, out) -> None:  # args: (input, global features[, sharper view])
        boxes.append(module.boxes(args[0], args[1]).cpu().numpy())

    local = run.model.local
    hook = local.register_forward_hook(record)
    try:
        crops = gradcam_maps(run, views, classes, layers=[local.relu])
    finally:
        hook.remove()
    return paste_in_boxes(crops, np.concatenate(boxes) if boxes else np.zeros((0, 4)))


def paste_in_boxes(crops: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Maps over crops ``[N, S, S]`` -> the image frame ``[N, S, S]``: each resized onto the
    pixels its box ``[x0, y0, x1, y1]`` covers, zero elsewhere.

    >>> paste_in_boxes(np.ones((1, 4, 4), np.float32), np.array([[2.0, 0.0, 4.0, 2.0]]))[0]
    array([[0., 0., 1., 1.],
           [0., 0., 1., 1.],
           [0., 0., 0., 0.],
           [0., 0., 0., 0.]], dtype=float32)
    """
    out = np.zeros_like(crops)
    size = crops.shape[-1]
    for i, (crop, box) in enumerate(zip(crops, boxes, strict=True)):
        x0, y0 = (max(int(np.floor(v)), 0) for v in box[:2])
        x1, y1 = (min(int(np.ceil(v)), size) for v in box[2:])
        if x1 > x0 and y1 > y0:
            shrunk = cv2.resize(crop, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
            out[i, y0:y1, x0:x1] = shrunk
    return out


def fuse(global_maps: np.ndarray, local: np.ndarray) -> np.ndarray:
    """The explanation with the close look: the mean of the global map and the local map
    in the image frame, rescaled to a maximum of 1 per image (pytorch-grad-cam's rule for
    several layers, with the local path as one more layer).

    Outside the crop box the fused map is the global map, halved before rescaling;
    inside, the two agree or the local path's finer cells decide.

    >>> fuse(np.array([[[1.0, 0.5]]]), np.array([[[0.0, 1.0]]]))
    array([[[0.66666667, 1.        ]]])
    """
    mean = (global_maps + local) / 2
    peak = mean.reshape(len(mean), -1).max(1) if len(mean) else np.zeros(0)
    return mean / np.where(peak > 0, peak, 1)[:, None, None]


def _fp32(t: torch.Tensor) -> torch.Tensor:
    return t.float()


@torch.no_grad()
def cam_grids(model: nn.Module, sides: tuple[int, ...]) -> list[int]:
    """Cells per side of each layer GradCAM hooks (``cam_layers()`` order), for inputs of
    ``sides`` px (``cxr.views.Views.sides``): e.g. [8, 4, 4] for the dual path at 64 px."""
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
        model(*(torch.zeros(1, 1, side, side, device=device) for side in sides))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return [cells[i] for i in range(len(layers))]
