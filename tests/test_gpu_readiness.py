"""What the first GPU user would hit, tested on the CPU with CUDA mocked: the current device
for ``cuda:N``, only this device's RNG state in ``last.pt``, and sync_bn with compile refused."""

import pytest
import torch

from cxr.config import TrainConfig
from cxr.device import pick_device
from cxr.errors import InputError
from cxr.training import resume


def test_a_named_gpu_is_made_the_current_device(monkeypatch):
    made_current = []
    monkeypatch.setattr(torch.cuda, "set_device", made_current.append)
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    assert made_current == [torch.device("cuda", 1)]
    assert pick_device("cpu") == torch.device("cpu") and len(made_current) == 1


def test_resume_restores_this_devices_rng_only_and_needs_no_other_gpu(monkeypatch):
    saved = torch.arange(16, dtype=torch.uint8)
    restored = []

    def all_devices(states):  # what a resume on fewer visible GPUs than saved raised
        raise IndexError("list index out of range")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": saved.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device="cuda": restored.append(s))
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: pytest.fail("all devices"))
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", all_devices)
    state = resume.rng_state()
    assert torch.equal(state["cuda"], saved)  # one tensor: the current device's
    resume.set_rng_state(state)
    assert len(restored) == 1 and torch.equal(restored[0], saved)


def test_cpu_runs_keep_no_cuda_state():
    state = resume.rng_state()
    if not torch.cuda.is_available():
        assert state["cuda"] is None
    resume.set_rng_state(state)  # and restore without one
    assert torch.equal(torch.get_rng_state(), state["torch"])


def test_sync_bn_with_compile_is_refused_with_the_reason():
    with pytest.raises(InputError, match=r"sync_bn = true with train.compile = true.*161302"):
        TrainConfig(sync_bn=True, compile=True)
    assert TrainConfig(sync_bn=True).sync_bn and TrainConfig(compile=True).compile
