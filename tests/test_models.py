"""The dual-path model: shapes, gradients into new modules, ablation switches, reload, crops."""

import pytest
import torch

from cxr.config import ARCHS, ModelConfig
from cxr.models import checkpoint
from cxr.models.dualpath import attention_boxes
from cxr.models.registry import build_model, initialise, is_pretrained

DUAL = ModelConfig(arch="dualpath")
ABLATIONS = {
    "dualpath": DUAL,
    "no_cbam": ModelConfig(arch="dualpath", cbam=False),
    "no_fpn": ModelConfig(arch="dualpath", fpn=False),
    "no_local": ModelConfig(arch="dualpath", local_path=False),
}


@pytest.mark.parametrize("stride", [16, 32])
def test_dualpath_shapes(stride):
    model = build_model(ModelConfig(arch="dualpath", output_stride=stride)).eval()
    x = torch.rand(2, 1, 64, 64)
    features = model.forward_features(x)
    cells = 64 // stride
    assert features["global"].shape == (2, 1024, cells, cells)
    assert features["p3"].shape == (2, 256, 8, 8)  # the pyramid's finest level, 1/8
    assert features["local"].shape == (2, 1024)
    assert model(x).shape == (2, 14)


def test_gradients_reach_every_new_module():
    torch.manual_seed(0)
    model = build_model(DUAL).train()
    x = torch.rand(4, 1, 64, 64)
    model(x).sum().backward()
    new = {"cbam": model.cbam, "fpn": model.fpn, "local": model.local, "head": model.head}
    for name, module in new.items():
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads), f"{name}: a parameter got no gradient"
        assert any(g.abs().sum() > 0 for g in grads), f"{name}: all gradients are zero"


def _structure(model):
    return {name for name, _ in model.named_modules()}, sum(p.numel() for p in model.parameters())


def test_each_ablation_switch_changes_the_graph():
    full_names, full_params = _structure(build_model(DUAL))
    for name, config in ABLATIONS.items():
        if name == "dualpath":
            continue
        names, params = _structure(build_model(config))
        assert params < full_params, name
        removed = {n.split(".")[0] if "." in n else n for n in full_names - names}
        assert removed, f"{name} removed no module"
    assert not any(
        "cbam" in n and "channel" in n for n in _structure(build_model(ABLATIONS["no_cbam"]))[0]
    )
    assert (
        build_model(ABLATIONS["no_fpn"]).fpn is None
        and build_model(ABLATIONS["no_local"]).local is None
    )
    # And the outputs differ in what the head sees.
    x = torch.rand(1, 1, 64, 64)
    assert set(build_model(ABLATIONS["no_local"]).eval().forward_features(x)) == {
        "global",
        "p3",
        "p4",
        "p5",
    }
    assert set(build_model(ABLATIONS["no_fpn"]).eval().forward_features(x)) == {"global", "local"}


@pytest.mark.parametrize("name", ["densenet121", "resnet50", *ABLATIONS])
def test_checkpoints_of_every_arch_reload_identically(name, tmp_path):
    config = ABLATIONS[name] if name in ABLATIONS else ModelConfig(arch=name)
    torch.manual_seed(3)
    model = build_model(config).eval()
    record = checkpoint.ModelRecord(config, tuple(f"c{k}" for k in range(14)))
    checkpoint.save_model(tmp_path / "best.pt", checkpoint.cpu_state(model), record)
    again, _ = checkpoint.load_model(tmp_path / "best.pt")
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_imagenet_format_weights_initialise_both_paths(tmp_path):
    import torchvision

    reference = torchvision.models.densenet121(weights=None)
    path = tmp_path / "densenet121.pth"
    torch.save(reference.state_dict(), path)
    model = build_model(DUAL)
    initialise(model, str(path))
    assert is_pretrained(model)
    w = reference.state_dict()["features.conv0.weight"]
    assert torch.equal(model.global_features.conv0.weight, w)
    assert torch.equal(model.local.features.conv0.weight, w)


def test_local_size_sets_the_crop_resolution():
    model = build_model(ModelConfig(arch="dualpath", local_size=48)).eval()
    x = torch.rand(2, 1, 64, 64)
    crops, boxes = model.local.crop(model.input(x), model.forward_features(x)["global"])
    assert crops.shape == (2, 3, 48, 48) and boxes.shape == (2, 4)
    assert model(x).shape == (2, 14)


def test_attention_box_covers_the_hot_cells():
    features = torch.zeros(2, 3, 4, 4)
    features[0, 1, 1, 2] = 5.0  # one hot cell: row 1, column 2
    features[1, 0, 3, 0] = -4.0  # absolute activation counts
    boxes = attention_boxes(features, image_size=64, threshold=0.7, min_share=0.0)
    assert boxes[0].tolist() == [32.0, 16.0, 48.0, 32.0]
    assert boxes[1].tolist() == [0.0, 48.0, 16.0, 64.0]
    grown = attention_boxes(features, image_size=64, threshold=0.7, min_share=0.5)
    assert (grown[:, 2:] - grown[:, :2] >= 32 - 1e-5).all()
    assert (grown >= 0).all() and (grown <= 64).all()


def test_gradcam_targets_per_arch():
    model = build_model(DUAL)
    assert model.cam_layers() == list(model.fpn.fpn.layer_blocks) and len(model.cam_layers()) == 3
    no_fpn = build_model(ABLATIONS["no_fpn"])
    assert no_fpn.cam_layers() == [no_fpn.global_relu]


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_are_fp32_under_bf16_autocast(arch):
    # CPU bf16 autocast stands in for CUDA's: the backbone runs in bf16, the head must not.
    # Native (AVX512-BF16, AMX) and emulated (AVX2) bf16 round differently, so nothing here
    # assumes how far the bf16 backbone lands from fp32: the bound below is measured.
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch)).eval()
    head_inputs = []
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    last.register_forward_hook(lambda module, args, out: head_inputs.append(args[0]))
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        features = model.forward_features(x)
        logits = model(x)
        again = model.forward_head(features)
    backbone = features["global"] if isinstance(features, dict) else features
    assert backbone.dtype == torch.bfloat16  # the test does run under autocast
    assert logits.dtype == torch.float32 and {h.dtype for h in head_inputs} == {torch.float32}
    assert torch.equal(logits, again)  # the logits are the head's reading of those features
    # Same weights, no autocast: the logits differ exactly as much as the fp32 linear head
    # carries the difference of what it read, |W (h16 - h32)| <= |W| |h16 - h32|, to fp32
    # rounding; whatever the CPU's bf16 did to the backbone.
    with torch.no_grad():
        full = model(x)
    read_bf16, read_fp32 = head_inputs[0], head_inputs[-1]
    bound = (read_bf16 - read_fp32).abs() @ last.weight.abs().T  # [B, 14]
    assert ((logits - full).abs() <= bound + 1e-4).all()
    assert (bound > 0).any()  # the backbone's rounding did reach the head


@pytest.mark.parametrize(("stride", "cells"), [(16, 4), (32, 2)])
def test_resnet50_is_torchvisions_with_a_gray_input_and_its_stride(stride, cells, tmp_path):
    import torchvision

    torch.manual_seed(0)
    reference = torchvision.models.resnet50(weights=None).eval()
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    model = build_model(ModelConfig(arch="resnet50", output_stride=stride)).eval()
    assert initialise(model, str(path)).startswith("file resnet50.pth")
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 2048, cells, cells)
        assert model(x).shape == (2, 14)
        if stride == 32:  # the same trunk computes the same features as torchvision's
            three = model.input(x)
            trunk = torch.nn.Sequential(*list(reference.children())[:-2])
            assert torch.allclose(features, trunk(three), atol=1e-5)
    assert model.cam_layers() == [model.layer4[-1]]


@pytest.mark.parametrize("arch", ["densenet121", "dualpath"])
def test_stride_16_dilates_dense_block_4_so_pretrained_filters_keep_their_spacing(arch):
    def dilations(model):
        return {n.rsplit(".", 1)[0]: m.dilation for n, m in model.named_modules()
                if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)}  # fmt: skip

    for stride, dilated, block4 in ((16, True, (2, 2)), (16, False, (1, 1)), (32, True, (1, 1))):
        model = build_model(ModelConfig(arch=arch, output_stride=stride, dilated=dilated))
        found = dilations(model)
        assert found and all(
            d == (block4 if "denseblock4" in n else (1, 1)) for n, d in found.items()
        ), (stride, dilated)
        x = torch.rand(1, 1, 64, 64)
        with torch.no_grad():  # the same parameters and map size either way
            assert model.eval()(x).shape == (1, 14)
    names = set(build_model(ModelConfig(arch=arch)).state_dict())
    assert names == set(build_model(ModelConfig(arch=arch, dilated=False)).state_dict())


def test_a_checkpoint_from_before_dilation_reloads_undilated(tmp_path):
    torch.manual_seed(1)
    old = build_model(ModelConfig(dilated=False)).eval()
    record = checkpoint.ModelRecord(ModelConfig(dilated=False), tuple(f"c{k}" for k in range(14)))
    payload = record.to_payload()
    del payload["model_config"]["dilated"]  # as best.pt files written before the knob
    checkpoint.save(tmp_path / "best.pt", {"model_state": checkpoint.cpu_state(old), **payload})
    again, loaded = checkpoint.load_model(tmp_path / "best.pt")
    assert loaded.model_config.dilated is False
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(old(x), again(x))


@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_keeps_the_classifier_contract(arch):
    """Every ``model.arch`` is registered, builds itself from the config, and is a
    ``Classifier``: features then head give the logits, GradCAM has layers to hook, and the
    pooled features the input guard reads are what the head's last linear layer takes."""
    from cxr.guard.distance import head_layer, pooled_features
    from cxr.models.contract import Classifier
    from cxr.models.registry import ARCHITECTURES

    assert set(ARCHITECTURES) == set(ARCHS)
    config = ModelConfig(arch=arch, weights="none", local_size=32)
    model = build_model(config, num_classes=5).eval()
    assert isinstance(model, ARCHITECTURES[arch]) and isinstance(model, Classifier)
    assert model.input_views == 1 and model.pretrained_prefixes
    names = [n for n, _ in model.named_parameters()]
    assert all(any(n.startswith(p) for n in names) for p in model.pretrained_prefixes)
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad(), pooled_features(model) as captured:
        logits = model(x)
        again = model.forward_head(model.forward_features(x))
    assert logits.shape == (2, 5) and torch.equal(logits, again)
    assert captured[0].shape == (2, head_layer(model).in_features)
    # The model and its config agree on how many views of each image it reads.
    assert model.input_views == config.input_views
    assert model.cam_layers() and all(isinstance(m, torch.nn.Module) for m in model.cam_layers())


def test_a_dual_path_cropping_from_the_detail_reads_two_views():
    config = ModelConfig(arch="dualpath", weights="none", local_detail=True, local_size=32)
    model = build_model(config, num_classes=3).eval()
    assert model.input_views == config.input_views == 2
    x, sharper = torch.rand(2, 1, 64, 64), torch.rand(2, 1, 128, 128)
    with torch.no_grad():
        assert model(x, sharper).shape == (2, 3)
        with pytest.raises(ValueError, match="pass detail"):
            model(x)
