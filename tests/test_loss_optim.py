"""Focal loss values, parameter groups and the learning-rate schedule."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cxr.config import ModelConfig
from cxr.models.registry import build_model, initialise, is_pretrained
from cxr.training.loss import class_weights, focal_loss
from cxr.training.optim import Schedule, parameter_groups


def test_focal_loss_is_bce_at_gamma_zero():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 14, generator=g) * 3
    targets = (torch.rand(8, 14, generator=g) > 0.7).float()
    assert focal_loss(logits, targets, 0.0).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, targets).item(), rel=1e-6
    )
    pw = torch.linspace(1, 5, 14)
    assert focal_loss(logits, targets, 0.0, pos_weight=pw).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pw).item(), rel=1e-6
    )


def test_focal_loss_hand_computed():
    # One positive with p = 0.8 and one negative with p = 0.3, gamma = 2, alpha = 0.25:
    # positive: -0.25 * (0.2)^2 * ln 0.8; negative: -0.75 * (0.3)^2 * ln 0.7.
    logits = torch.tensor([[math.log(0.8 / 0.2), math.log(0.3 / 0.7)]])
    targets = torch.tensor([[1.0, 0.0]])
    expected = (-0.25 * 0.2**2 * math.log(0.8) - 0.75 * 0.3**2 * math.log(0.7)) / 2
    alpha = torch.tensor([0.25, 0.25])
    assert focal_loss(logits, targets, 2.0, alpha=alpha).item() == pytest.approx(expected, rel=1e-5)


def test_focal_loss_down_weights_easy_examples():
    easy, hard = torch.tensor([[4.0]]), torch.tensor([[-1.0]])
    y = torch.ones(1, 1)
    ratio_bce = focal_loss(easy, y, 0).item() / focal_loss(hard, y, 0).item()
    ratio_focal = focal_loss(easy, y, 2).item() / focal_loss(hard, y, 2).item()
    assert ratio_focal < ratio_bce / 10


def test_class_weights_from_prevalence():
    labels = np.zeros((100, 3))
    labels[:10, 0], labels[:50, 1] = 1, 1  # 10%, 50%, 0% positive
    assert class_weights(labels, "pos_weight")["pos_weight"].tolist() == pytest.approx(
        [9.0, 1.0, 20.0]
    )
    assert class_weights(labels, "alpha")["alpha"].tolist()[:2] == pytest.approx([0.9, 0.5])
    assert class_weights(labels, "none") == {}


@pytest.fixture(scope="module")
def pretrained_model(tmp_path_factory):
    """A model initialised from a torchvision-format DenseNet121 state dict file."""
    import torchvision

    path = tmp_path_factory.mktemp("w") / "densenet121.pth"
    torch.save(torchvision.models.densenet121(weights=None).state_dict(), path)
    model = build_model(ModelConfig(arch="densenet121"))
    used = initialise(model, str(path))
    assert used.startswith("file densenet121.pth sha256:") and is_pretrained(model)
    return model


def test_parameter_groups_with_a_pretrained_backbone(pretrained_model):
    groups = {
        g["name"]: g for g in parameter_groups(pretrained_model, 1e-3, 0.01, 0.05, pretrained=True)
    }
    assert set(groups) == {"backbone/decay", "backbone/no_decay", "new/decay", "new/no_decay"}
    assert groups["backbone/decay"]["lr"] == pytest.approx(1e-3 / 20)
    assert groups["backbone/no_decay"]["lr"] == pytest.approx(1e-3 / 20)
    assert groups["new/decay"]["lr"] == groups["new/no_decay"]["lr"] == 1e-3
    assert (
        groups["backbone/no_decay"]["weight_decay"] == groups["new/no_decay"]["weight_decay"] == 0.0
    )
    assert groups["backbone/decay"]["weight_decay"] == groups["new/decay"]["weight_decay"] == 0.01
    names = {id(p): n for n, p in pretrained_model.named_parameters()}
    new = [names[id(p)] for p in groups["new/decay"]["params"] + groups["new/no_decay"]["params"]]
    assert sorted(new) == ["classifier.bias", "classifier.weight"]
    # Every BatchNorm parameter is slow and undecayed.
    bn = {
        id(p)
        for m in pretrained_model.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
        for p in m.parameters()
    }
    assert bn <= {id(p) for p in groups["backbone/no_decay"]["params"]}
    counted = sum(len(g["params"]) for g in groups.values())
    assert counted == len(list(pretrained_model.parameters()))


def test_new_parts_of_a_pretrained_dual_path_train_at_full_lr(tmp_path):
    import torchvision

    path = tmp_path / "densenet121.pth"
    torch.save(torchvision.models.densenet121(weights=None).state_dict(), path)
    model = build_model(ModelConfig(arch="dualpath", local_size=32))
    initialise(model, str(path))
    groups = parameter_groups(model, 1e-3, 0.01, 0.05, pretrained=True)
    speed = {id(p): g["lr"] for g in groups for p in g["params"]}
    for name, p in model.named_parameters():
        pretrained = name.startswith(("global_features.", "local.features."))
        assert speed[id(p)] == pytest.approx(5e-5 if pretrained else 1e-3), name
    # CBAM's spatial gate has its own BatchNorm: new, so full rate.
    cbam_norms = [n for n, _ in model.named_parameters() if n.startswith("cbam.") and ".bn." in n]
    assert cbam_norms


def test_random_backbone_trains_at_full_lr():
    groups = parameter_groups(
        build_model(ModelConfig(arch="densenet121")), 1e-3, 0.01, 0.05, pretrained=False
    )
    assert {g["name"] for g in groups} == {"new/decay", "new/no_decay"}
    assert all(g["lr"] == 1e-3 for g in groups)


@pytest.mark.parametrize(
    ("arch", "file"), [("densenet121", "densenet121-a639ec97.pth"), ("resnet50", "resnet50-")]
)
def test_weights_auto_falls_back_with_a_warning(monkeypatch, arch, file):
    import cxr.models.registry as registry

    def offline(model):
        raise OSError("no network")

    monkeypatch.setattr(registry, "_imagenet", offline)
    model = build_model(ModelConfig(arch=arch))
    with pytest.warns(UserWarning, match="random initialisation"):
        assert initialise(model, "auto").startswith("none")
    assert not is_pretrained(model)
    with pytest.raises(ValueError, match=f"could not be obtained.*put {file}"):
        initialise(model, "imagenet")


def test_schedule_warmup_then_cosine():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [p], "lr": 1.0}])
    s = Schedule(opt, "cosine", warmup_steps=4, total_steps=14, min_lr_ratio=0.0)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(14):
        s.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[9] == pytest.approx(0.5)  # half-way through the cosine
    assert lrs[14] == pytest.approx(0.0, abs=1e-12)


def test_plateau_schedule_cuts_after_patience():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [p], "lr": 1.0}])
    s = Schedule(
        opt, "plateau", warmup_steps=0, total_steps=10, plateau_factor=0.5, plateau_patience=1
    )
    for metric in (0.8, 0.8, 0.8):
        s.epoch_end(metric)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)


def test_focal_loss_module_docstring_example_holds():
    import doctest

    import cxr.training.loss

    result = doctest.testmod(cxr.training.loss)
    assert result.attempted >= 6 and result.failed == 0


def test_focal_loss_module_weights_follow_the_training_labels():
    from cxr.training.loss import FocalLoss

    labels = np.zeros((10, 14), np.uint8)
    labels[:2, 0] = 1  # Atelectasis: 2 positives, 8 negatives
    loss = FocalLoss.for_labels(labels, 1.0, "pos_weight")
    assert loss.gamma == 1.0 and loss.pos_weight[0].item() == 4.0 and loss.alpha is None
    logits, targets = torch.randn(3, 14), torch.from_numpy(labels[:3]).float()
    expected = focal_loss(logits, targets, 1.0, pos_weight=loss.pos_weight)
    assert torch.equal(loss(logits, targets), expected)


@pytest.mark.parametrize("kind", ["none", "alpha", "pos_weight"])
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_an_unknown_label_gives_exactly_no_gradient_and_is_never_a_negative(gamma, kind):
    """A finding a source does not label (NaN) adds nothing to the loss or its gradient,
    in focal loss and in BCE (gamma 0) under every weighting; the known ones get exactly
    the gradient of the loss over the known targets alone."""
    from cxr.training.loss import FocalLoss

    rng = np.random.default_rng(0)
    labels = (rng.random((64, 5)) < 0.3).astype(np.float32)
    labels[:32, 3] = np.nan  # the first source does not label finding 3
    labels[40:, 1] = np.nan  # nor the second finding 1
    loss = FocalLoss.for_labels(labels, gamma, kind)
    assert loss.masked
    logits = torch.tensor(rng.normal(size=(64, 5)), dtype=torch.float32, requires_grad=True)
    targets = torch.from_numpy(labels)
    value = loss(logits, targets)
    value.backward()
    unknown = torch.isnan(targets)
    assert torch.isfinite(value) and (logits.grad[unknown] == 0).all()
    assert (logits.grad[~unknown] != 0).all()
    # As a negative the unknown labels would move the loss: they are not read as 0.
    as_negative = FocalLoss(gamma, loss.alpha, loss.pos_weight)(logits, targets.nan_to_num(0.0))
    assert not torch.isclose(value, as_negative)
    # A fully known finding's gradient is the unmasked loss's, rescaled from the mean
    # over every target to the mean over the known ones.
    column = 2
    full = FocalLoss(gamma, loss.alpha, loss.pos_weight)
    x = logits.detach().clone().requires_grad_(True)
    full(x, targets.nan_to_num(0.0)).backward()
    scale = unknown.numel() / (~unknown).sum()
    torch.testing.assert_close(logits.grad[:, column], x.grad[:, column] * scale)


def test_weights_count_known_labels_only_and_no_nan_means_the_unmasked_loss():
    from cxr.training.loss import FocalLoss, class_weights

    labels = np.array([[1, 0], [0, np.nan], [0, 1], [np.nan, 1]], dtype=np.float32)
    weights = class_weights(labels, "pos_weight")["pos_weight"]
    # finding 0: 1 positive of 3 known -> 2 negatives per positive; finding 1: 2 of 3 -> 0.5,
    # floored at 1
    torch.testing.assert_close(weights, torch.tensor([2.0, 1.0]))
    alpha = class_weights(labels, "alpha")["alpha"]
    torch.testing.assert_close(alpha, torch.tensor([2 / 3, 1 / 3]))
    plain = np.nan_to_num(labels, nan=0.0)
    assert not FocalLoss.for_labels(plain, 2.0, "alpha").masked
    logits, targets = torch.randn(4, 2), torch.from_numpy(plain)
    unmasked = FocalLoss.for_labels(plain, 2.0, "alpha")(logits, targets)
    masked = FocalLoss.for_labels(plain, 2.0, "alpha", masked=True)(logits, targets)
    torch.testing.assert_close(masked, unmasked)
