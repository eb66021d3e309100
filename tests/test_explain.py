"""Pointing game and random control on hand-made maps; GradCAM on the real model is not empty."""

import cv2
import numpy as np
import pytest
import torch

from cxr.config import ModelConfig
from cxr.evaluation.predict import ForwardPass
from cxr.explain.gallery import gallery_rows
from cxr.explain.gradcam import cam_grids, fuse, gradcam_maps, local_maps, paste_in_boxes
from cxr.explain.pointing import near_box_mask, pointing_hit
from cxr.models.registry import build_model
from cxr.views import Views


def test_pointing_hit_and_tolerance():
    cam = np.zeros((64, 64))
    cam[40, 10] = 1.0  # maximum at pixel centre (10.5, 40.5)
    box = np.array([[12.0, 30.0, 20.0, 50.0]])
    assert not pointing_hit(cam, box, tolerance=0.0)
    assert not pointing_hit(cam, box, tolerance=1.4)
    assert pointing_hit(cam, box, tolerance=1.5)
    assert pointing_hit(cam, np.array([[0.0, 0.0, 1.0, 1.0], [10.0, 40.0, 11.0, 41.0]]), 0.0)


def test_pointing_tolerance_is_a_disk_not_a_square():
    box = np.array([[12.0, 30.0, 20.0, 50.0]])
    cam = np.zeros((64, 64))
    cam[28, 10] = 1.0  # centre (10.5, 28.5): 1.5 px left of and 1.5 px above the corner
    assert not pointing_hit(cam, box, tolerance=1.5)  # a square of half-side 1.5 would hit
    assert not pointing_hit(cam, box, tolerance=2.1)
    assert pointing_hit(cam, box, tolerance=2.13)  # sqrt(1.5**2 + 1.5**2) = 2.121
    # Without tolerance the mask is the box itself: its share of the image.
    assert near_box_mask(box, 64, 0.0).sum() == 8 * 20
    # The disk's area around a point-like box: pi r^2 (pixel centres within r).
    point = np.array([[32.0, 32.0, 32.0, 32.0]])
    assert near_box_mask(point, 64, 10.0).sum() == pytest.approx(np.pi * 100, rel=0.03)


def test_gallery_rows_pick_the_most_confident():
    probs = np.tile(np.array([[0.9], [0.8], [0.2], [0.6], [0.1]]), (1, 14))
    labels = np.tile(np.array([[1], [0], [1], [1], [0]]), (1, 14))
    rows = gallery_rows(probs, labels, np.full(14, 0.5), k=2)["Hernia"]
    assert rows["true positives"].tolist() == [0, 3]
    assert rows["false positives"].tolist() == [1]
    assert rows["false negatives"].tolist() == [2]


def _run(model, batch_size: int = 32) -> ForwardPass:
    return ForwardPass(model, torch.device("cpu"), batch_size=batch_size)


def _manual_gradcam(model, image: np.ndarray, k: int) -> np.ndarray:
    """GradCAM by hand: ReLU(sum_c mean(dy_k/dA_c) A_c) on the features' final ReLU."""
    x = torch.from_numpy(image).float().div(255).view(1, 1, *image.shape)
    features = model.forward_features(x)
    features.retain_grad()
    model.forward_head(features)[0, k].backward()
    weights = features.grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * features).sum(1))[0].detach().numpy()
    cam = cam - cam.min()
    cam = cam / (cam.max() + 1e-7)
    return cv2.resize(cam.astype(np.float32), image.shape[::-1])


@pytest.mark.parametrize(("stride", "size"), [(16, 64), (32, 128)])
def test_gradcam_matches_a_hand_computation(stride, size):
    # Equal maps mean the hooks saw the true activations and gradients (an
    # in-place ReLU after the hooked layer would corrupt them).
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="densenet121", output_stride=stride)).eval()
    images = (np.random.default_rng(0).random((3, size, size)) * 255).astype(np.uint8)
    classes = np.array([0, 5, 13])
    cams = gradcam_maps(_run(model, 2), Views(images), classes)
    assert cams.shape == (3, size, size) and np.isfinite(cams).all()
    for image, k, cam in zip(images, classes, cams, strict=True):
        # Batched and single-image convolutions differ in the last float bits.
        np.testing.assert_allclose(cam, _manual_gradcam(model, image, int(k)), atol=0.02)
    with pytest.raises(ValueError, match="one class per image"):
        gradcam_maps(_run(model), Views(images), np.array([0]))


def test_gradcam_frees_each_batchs_graph_before_the_next(monkeypatch):
    import gc
    import weakref

    from cxr.explain import gradcam

    outputs, alive_at_forward = [], []
    forward = gradcam._WithViews.forward

    def recording(self, x):
        alive_at_forward.append(sum(ref() is not None for ref in outputs))
        out = forward(self, x)
        outputs.append(weakref.ref(out))
        return out

    monkeypatch.setattr(gradcam._WithViews, "forward", recording)
    gc.disable()  # freed by reference counting alone, not by a lucky collection
    try:
        model = build_model(ModelConfig(arch="densenet121"))
        images = (np.random.default_rng(0).random((6, 32, 32)) * 255).astype(np.uint8)
        gradcam_maps(_run(model, 2), Views(images), np.arange(6))
    finally:
        gc.enable()
    # Three batches; when each forward starts, no earlier batch's output (and so graph)
    # is alive. pytorch-grad-cam alone keeps the last one, whose graph it retained.
    assert alive_at_forward == [0, 0, 0]


@pytest.mark.parametrize("fpn", [True, False])
def test_gradcam_works_for_the_dual_path(fpn):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="dualpath", fpn=fpn))
    images = (np.random.default_rng(1).random((2, 64, 64)) * 255).astype(np.uint8)
    cams = gradcam_maps(_run(model), Views(images), np.array([2, 7]))
    assert cams.shape == (2, 64, 64) and np.isfinite(cams).all()
    assert ((cams >= 0) & (cams <= 1)).all()


@pytest.mark.parametrize(
    ("config", "size", "grids"),
    [
        (ModelConfig(arch="densenet121", output_stride=16), 64, [4]),
        (ModelConfig(arch="densenet121", output_stride=32), 224, [7]),
        (ModelConfig(arch="dualpath"), 64, [8, 4, 4]),  # P3 (1/8), P4 and P5 (1/16)
        (ModelConfig(arch="dualpath"), 224, [28, 14, 14]),
    ],
)
def test_cam_grids_are_the_hooked_layers_resolutions(config, size, grids):
    model = build_model(config).train()
    assert cam_grids(model, (size,)) == grids
    assert model.training  # left as it was


def test_the_local_map_lies_in_the_crop_box_the_model_looked_at():
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="dualpath", local_size=48)).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 64, 64), dtype=np.uint8)
    classes = np.array([0, 5, 9, 13])
    maps = local_maps(_run(model, 3), Views(images), classes)  # two batches
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    with torch.no_grad():
        boxes = model.local.boxes(model.input(x), model.forward_features(x)["global"]).numpy()
    assert maps.shape == (4, 64, 64) and maps.min() >= 0 and maps.max() <= 1
    lit = 0
    for m, (x0, y0, x1, y1) in zip(maps, boxes, strict=True):
        inside = np.zeros((64, 64), bool)
        inside[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = True
        assert inside.sum() >= (0.4 * 64) ** 2  # at least crop_min_share a side
        assert (m[~inside] == 0).all()
        lit += m[inside].max() > 0
    # GradCAM's ReLU can blank a random network's map for a class: most must show something.
    assert lit >= 3
    # It is GradCAM at the local path's last ReLU, over the crop, put back through the box.
    crops = gradcam_maps(_run(model), Views(images), classes, layers=[model.local.relu])
    # One batch here, two above: channels_last convolutions differ in the last bits.
    np.testing.assert_allclose(maps, paste_in_boxes(crops, boxes), atol=1e-5)
    global_maps = gradcam_maps(_run(model), Views(images), classes)
    fused = fuse(global_maps, maps)
    assert np.allclose(fused.reshape(4, -1).max(1), 1)
    outside = maps == 0  # there the fused map keeps the global map's order
    for f, g, o in zip(fused, global_maps, outside, strict=True):
        np.testing.assert_allclose(f[o] / f[o].max(), g[o] / g[o].max(), atol=1e-6)
