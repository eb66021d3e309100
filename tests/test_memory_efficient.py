"""``model.memory_efficient``: checkpointed DenseNet layers give the same model, step for step,
with fewer tensors kept for backward (the memory it saves is measured in
``bench/train_memory.py``; docs/performance.md)."""

import dataclasses

import numpy as np
import pytest
import torch

from cxr.config import ModelConfig, TrainConfig
from cxr.errors import InputError
from cxr.evaluation.predict import ForwardPass
from cxr.explain.gradcam import gradcam_maps
from cxr.knobs import result_settings
from cxr.models.layers import CheckpointedDenseLayer
from cxr.models.registry import build_model
from cxr.training.loop import train_step
from cxr.training.loss import FocalLoss
from cxr.views import Views

CONFIGS = {
    "densenet121": ModelConfig(arch="densenet121"),
    "dualpath": ModelConfig(arch="dualpath", local_size=0),
}


def _trained(config: ModelConfig, memory_efficient: bool) -> torch.nn.Module:
    """Three steps (fp32, bf16 autocast, fp32) from the same start and the same batches."""
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(config, memory_efficient=memory_efficient)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    data = torch.Generator().manual_seed(1)
    for dtype in (torch.float32, torch.bfloat16, torch.float32):
        images = torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8, generator=data)
        labels = (torch.rand(4, 14, generator=data) < 0.3).float()
        train_step(model, FocalLoss(), [images], labels, optimizer, TrainConfig(), generator, dtype)
    return model


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_checkpointed_training_is_bit_identical_statistics_included(name):
    plain, efficient = _trained(CONFIGS[name], False), _trained(CONFIGS[name], True)
    layers = sum(isinstance(m, CheckpointedDenseLayer) for m in efficient.modules())
    assert layers == {"densenet121": 58, "dualpath": 116}[name]  # 6 + 12 + 24 + 16 per DenseNet
    state = efficient.state_dict()
    assert state.keys() == plain.state_dict().keys()  # the same names: weights load across
    for key, value in plain.state_dict().items():
        # torchvision's own memory_efficient counts each batch twice in norm1's statistics
        assert torch.equal(value, state[key]), key
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(x), efficient.eval()(x), rtol=0, atol=1e-5)


def test_checkpointing_keeps_fewer_tensors_for_backward():
    def saved_bytes(model):
        storages = {}

        def pack(t):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(torch.rand(2, 1, 64, 64))
        weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
        return sum(n for ptr, n in storages.items() if ptr not in weights)

    plain = saved_bytes(build_model(ModelConfig(arch="densenet121")).train())
    efficient = saved_bytes(build_model(ModelConfig(memory_efficient=True)).train())
    assert efficient < 0.6 * plain


def test_gradcam_maps_are_the_same_with_checkpointed_layers():
    torch.manual_seed(0)
    plain = build_model(ModelConfig(arch="densenet121")).eval()
    efficient = build_model(ModelConfig(memory_efficient=True)).eval()
    efficient.load_state_dict(plain.state_dict())
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    classes = np.array([0, 5, 9])
    cpu = torch.device("cpu")
    maps = [gradcam_maps(ForwardPass(m, cpu, batch_size=2), Views(images), classes)
            for m in (plain, efficient)]  # fmt: skip
    assert maps[0].std() > 0
    np.testing.assert_allclose(maps[0], maps[1], atol=1e-6)


def test_memory_efficient_is_a_speed_knob_and_needs_a_densenet():
    assert result_settings(ModelConfig(memory_efficient=True)) == result_settings(ModelConfig())
    with pytest.raises(InputError, match=r"memory_efficient = true .* resnet50 has none"):
        ModelConfig(arch="resnet50", memory_efficient=True)


def test_memory_efficient_with_compile_is_refused_when_params_load():
    from cxr.config import PreprocessConfig, check_together

    configs = {"model": ModelConfig(memory_efficient=True), "preprocess": PreprocessConfig()}
    with pytest.raises(InputError, match=r"memory_efficient = true with train.compile = true"):
        check_together({**configs, "train": TrainConfig(compile=True)})
    check_together({**configs, "train": TrainConfig()})  # either alone is fine
