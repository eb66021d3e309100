"""The training step never reads a value back to the host: only the loss checks every
``train.check_every`` steps and at the end of the epoch do, once each.

On a CPU nothing syncs, so the tests count what would: every way a tensor's value
reaches Python (``item``, ``tolist``, ``bool``, ``float``, ``int``, ``numpy``,
``cpu``), outside the loader (whose sampler orders rows on the host by design) and
outside ``torch.optim``: AdamW keeps its step counts in host tensors for CUDA
parameters too (unless ``capturable`` or ``fused``), so its ``step.item()`` never
waits for the GPU.
"""

import dataclasses
import sys

import numpy as np
import pytest
import torch

from cxr.batches import EpochBatches, SplitArrays, loader
from cxr.config import ModelConfig, TrainConfig
from cxr.distributed import World
from cxr.models.registry import build_model
from cxr.training.loop import TrainingDiverged, train_one_epoch
from cxr.training.loss import FocalLoss
from cxr.training.optim import Schedule
from cxr.training.watch import LossWatch
from tests.test_training import write_split

CPU = torch.device("cpu")
READS = ("item", "tolist", "__bool__", "__float__", "__int__", "numpy", "cpu")


class HostReads:
    """Counts value reads of tensors while ``on``."""

    def __init__(self, monkeypatch):
        self.count, self.on = 0, True
        for name in READS:
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._counting(original))

    def _counting(self, original):
        def read(tensor, *args, **kwargs):
            if self.on and "torch/optim/" not in sys._getframe(1).f_code.co_filename:
                self.count += 1
                self.on = False  # one read may call another (tolist -> item): count it once
                try:
                    return original(tensor, *args, **kwargs)
                finally:
                    self.on = True
            return original(tensor, *args, **kwargs)

        return read

    def quiet(self, batches):
        """``batches`` with the loader's own host work (the sampler's order) not counted."""
        stream = None
        while True:
            self.on = False
            try:
                stream = stream or iter(batches)
                batch = next(stream)
            except StopIteration:
                return
            finally:
                self.on = True
            yield batch


@pytest.fixture()
def ten_batches(tmp_path):
    write_split(tmp_path, "train", 40, seed=1)
    return SplitArrays(tmp_path, "train")


def _epoch(data, model_config, config, reads=None, criterion=None):
    torch.manual_seed(0)
    model = build_model(model_config).to(memory_format=torch.channels_last)
    sampler = EpochBatches(len(data), config.batch_size, 0, shuffle=True, drop_last=True)
    batches = loader(data, sampler, 0, pin_memory=False)
    criterion = criterion or FocalLoss.for_labels(data.labels, 1.0, "pos_weight")
    schedule = Schedule(torch.optim.AdamW(model.parameters(), lr=1e-3), "cosine", 0, 100)
    stream = reads.quiet(batches) if reads else batches
    return train_one_epoch(model, criterion, stream, schedule, config, CPU, epoch=0)


@pytest.mark.parametrize(
    "model_config",
    [ModelConfig(arch="densenet121"), ModelConfig(arch="dualpath", local_size=0)],
    ids=["densenet121", "dualpath"],
)
def test_an_epoch_reads_the_loss_only_at_its_checks(ten_batches, monkeypatch, model_config):
    config = TrainConfig(batch_size=4, check_every=4, epochs=1)
    reads = HostReads(monkeypatch)
    loss, seen = _epoch(ten_batches, model_config, config, reads)
    # 10 steps: checks after steps 4 and 8, and the epoch's end. No other read.
    assert reads.count == 3 and seen == 40
    assert loss > 0


def test_the_epochs_end_reuses_a_check_made_at_its_last_step(ten_batches, monkeypatch):
    reads = HostReads(monkeypatch)
    _epoch(ten_batches, ModelConfig(), TrainConfig(batch_size=4, check_every=5, epochs=1), reads)
    assert reads.count == 2  # after steps 5 and 10; the end reads nothing new


def test_checking_less_often_changes_nothing_but_the_reads(ten_batches, monkeypatch):
    every = [
        _epoch(ten_batches, ModelConfig(), TrainConfig(batch_size=4, check_every=k, epochs=1))
        for k in (1, 3, 50)
    ]
    assert every[0] == every[1] == every[2]


def test_a_late_check_names_the_first_bad_step(ten_batches):
    calls = []

    def nan_from_step_3(logits, targets):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
        calls.append(1)
        return loss * float("nan") if len(calls) >= 3 else loss

    config = TrainConfig(batch_size=4, check_every=50, epochs=1)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 1, step 3$"):
        _epoch(ten_batches, ModelConfig(), config, criterion=nan_from_step_3)


def test_the_watch_reports_per_window_and_per_epoch_means():
    watch = LossWatch(CPU, World(), every=2, epoch=4, first_step=20)
    means = []
    for value in (0.5, 0.3, 1.0, 2.0):
        watch.add(torch.tensor(value))
        if watch.due():
            means.append(watch.check())
    assert means == pytest.approx([0.4, 1.5]) and watch.epoch_mean() == pytest.approx(0.95)
    assert np.isnan(LossWatch(CPU, World(), 2, 0, 0).epoch_mean())  # no step: no loss
    watch.add(torch.tensor(float("inf")))
    with pytest.raises(TrainingDiverged, match=r"loss is inf at epoch 5, step 25$"):
        watch.check()


def test_check_every_is_a_speed_knob():
    from cxr.knobs import result_settings

    fast, slow = TrainConfig(check_every=1), TrainConfig(check_every=500)
    assert result_settings(fast) == result_settings(slow)
    assert dataclasses.replace(fast, check_every=500) == slow
