"""What the first GPU user would hit, tested on the CPU with CUDA mocked: the current device
for ``cuda:N``, only this device's RNG state in ``last.pt``, sync_bn with compile refused,
the precision chosen by compute capability (fp16 with loss scaling before Ampere), and
running out of GPU memory ending in the knobs to turn."""

import pytest
import torch

from cxr.config import ModelConfig, TrainConfig
from cxr.device import compute_dtype, needs_loss_scaling, pick_device, precision_name
from cxr.errors import InputError
from cxr.models.registry import build_model
from cxr.training import resume
from cxr.training.loop import train_step
from cxr.training.loss import FocalLoss


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


@pytest.mark.parametrize(
    ("capability", "dtype", "name"),
    [
        ((7, 0), torch.float16, "fp16 autocast, loss scaling (CUDA sm_70)"),  # V100
        ((7, 5), torch.float16, "fp16 autocast, loss scaling (CUDA sm_75)"),  # T4
        ((8, 0), torch.bfloat16, "bf16 autocast (CUDA sm_80)"),  # A100
        ((8, 6), torch.bfloat16, "bf16 autocast (CUDA sm_86)"),  # RTX 30x0, A10
        ((9, 0), torch.bfloat16, "bf16 autocast (CUDA sm_90)"),  # H100, H200
    ],
)
def test_cuda_precision_follows_the_compute_capability(monkeypatch, capability, dtype, name):
    asked = []

    def capability_of(device=None):
        asked.append(device)
        return capability

    monkeypatch.setattr(torch.cuda, "get_device_capability", capability_of)
    gpu = torch.device("cuda", 1)
    assert compute_dtype(gpu, "auto") == dtype and compute_dtype(gpu, "fp32") == torch.float32
    assert precision_name(gpu, dtype) == name
    assert asked[0] == gpu  # the run's own GPU, not GPU 0
    assert needs_loss_scaling(dtype) == (dtype == torch.float16)


def test_an_fp16_step_whose_gradients_overflow_is_skipped_and_the_scale_lowered():
    # CPU autocast computes fp16 too, so the scaler's path runs here as it would on a T4.
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="densenet121")).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    images = torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8)
    labels = (torch.rand(4, 14) < 0.3).float()
    criterion = FocalLoss()
    generator = torch.Generator().manual_seed(0)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**60)  # fp16 gradients overflow
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = (model, criterion, [images], labels, optimizer, TrainConfig(), generator)
    loss = train_step(*args, torch.float16, scaler)
    assert torch.isfinite(loss) and scaler.get_scale() == 2.0**59
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # skipped
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    train_step(*args, torch.float16, scaler)
    assert scaler.get_scale() == 2.0**8  # no overflow: applied, scale kept
    assert not torch.equal(model.classifier.weight, before["classifier.weight"])


@pytest.mark.parametrize(
    ("stage", "inside", "knobs"),
    [
        ("train", "_train", ["train.batch_size", "memory_efficient: true", "model.local_size"]),
        ("evaluate", "load_model", ["evaluate.batch_size"]),
        ("explain", "load_model", ["explain.batch_size"]),
    ],
)
def test_running_out_of_gpu_memory_names_the_knobs_to_turn(monkeypatch, stage, inside, knobs):
    import importlib

    import typer
    from typer.testing import CliRunner

    from stages.command import guarded

    module = importlib.import_module(f"stages.{stage}")

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
            "15.77 GiB of which 1.02 GiB is free.\nOf the allocated memory ..."
        )

    monkeypatch.setattr(module, inside, out_of_memory)
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(guarded(module.main))
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert f"error: {stage} ran out of GPU memory (CUDA out of memory." in result.output
    for knob in knobs:
        assert knob in result.output, result.output


def test_the_stage_is_named_when_run_as_python_dash_m(monkeypatch):
    import importlib.machinery
    import sys
    import types

    from stages.command import stage_name

    main = types.ModuleType("__main__")
    main.__spec__ = importlib.machinery.ModuleSpec("stages.train", None)  # python -m stages.train

    def command():
        pass

    command.__module__ = "__main__"
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert stage_name(command) == "train"
