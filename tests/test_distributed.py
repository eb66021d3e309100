"""Two data-parallel processes on CPU (gloo): the global batch split between them, their own
augmentation and dropout draws, one writer.

They are not bit-identical to one process with the global batch: BatchNorm sees
each process's rows, and each process draws its own crops and dropout masks.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cxr.batches import EpochBatches, SplitArrays
from cxr.config import ModelConfig, TrainConfig
from cxr.findings import FINDINGS
from cxr.models import checkpoint
from cxr.models.registry import build_model
from cxr.training.loop import RunFiles, fit
from cxr.training.loss import FocalLoss
from tests.test_training import write_split

CONFIG = dict(epochs=2, lr=0.003, warmup_epochs=0.5, patience=10)
MODELS = {
    "densenet121": ModelConfig(arch="densenet121", dropout=0.0),
    "dualpath": ModelConfig(arch="dualpath", dropout=0.0, local_size=0),  # as shipped, small
}


def test_ranks_split_each_global_batch():
    single = list(EpochBatches(40, 8, seed=1, shuffle=True, drop_last=True))
    r0 = list(EpochBatches(40, 4, seed=1, shuffle=True, drop_last=True, rank=0, world=2))
    r1 = list(EpochBatches(40, 4, seed=1, shuffle=True, drop_last=True, rank=1, world=2))
    assert [a + b for a, b in zip(r0, r1, strict=True)] == single
    evals = [list(EpochBatches(10, 3, 0, False, False, rank=r, world=3)) for r in range(3)]
    rows = sorted(i for batches in evals for b in batches for i in b)
    assert rows == list(range(10))


def _record_draws(folder: str, name: str) -> None:
    """Make the loop's augment_views() log, per batch, the first draws of its generator and of
    torch's global generator (dropout) into ``folder/name.json``, and the loss watch log
    every step's loss into ``folder/name.losses.json``."""
    import cxr.training.loop as loop
    from cxr.training.watch import LossWatch

    draws, losses, augment_views, add = [], [], loop.augment_views, LossWatch.add

    def recording(views, config, generator):
        state = generator.get_state()
        draws.append([torch.rand(3, generator=generator).tolist(), torch.rand(3).tolist()])
        generator.set_state(state)  # the loop's own draws stay as they were
        return augment_views(views, config, generator)

    def adding(watch, loss):
        losses.append([watch.epoch, float(loss)])
        return add(watch, loss)

    loop.augment_views, LossWatch.add = recording, adding
    loop._recorded = (draws, losses, Path(folder) / name)


def _save_draws() -> None:
    import cxr.training.loop as loop

    draws, losses, path = loop._recorded
    path.with_suffix(".json").write_text(json.dumps(draws))
    path.with_suffix(".losses.json").write_text(json.dumps(losses))


def _fit(model_config: ModelConfig, folder: str, out: str, batch_size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(model_config)
    data = SplitArrays(folder, "train"), SplitArrays(folder, "val")
    config = TrainConfig(batch_size=batch_size, **CONFIG)
    criterion = FocalLoss.for_labels(data[0].labels, config.focal_gamma, config.class_weight)
    record = checkpoint.ModelRecord(model_config, FINDINGS)
    fit(model, criterion, *data, config, RunFiles(Path(out), "f", record), torch.device("cpu"))
    return model


def _worker(rank: int, arch: str, folder: str, store: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        _record_draws(folder, f"draws{rank}")
        # One folder per rank: any write by rank 1 would show.
        model = _fit(MODELS[arch], folder, f"{folder}/ddp{rank}", batch_size=8)
        _save_draws()
        weights = {n: t.detach() for n, t in model.state_dict().items()}
        torch.save(weights, Path(folder) / f"weights{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture()
def tiny(tmp_path):
    write_split(tmp_path, "train", 64, seed=1)
    write_split(tmp_path, "val", 32, seed=2)
    return tmp_path


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_two_gloo_processes_match_one_process(tiny, arch, monkeypatch):
    mp.spawn(_worker, args=(arch, str(tiny), str(tiny / "store")), nprocs=2, join=True)
    import cxr.training.loop as loop
    from cxr.training.watch import LossWatch

    # _record_draws replaces the loop's augment_views and the watch's add; undo them after
    # this test (a later test counting the loop's host reads saw the recorder's).
    monkeypatch.setattr(loop, "augment_views", loop.augment_views)
    monkeypatch.setattr(LossWatch, "add", LossWatch.add)
    _record_draws(str(tiny), "draws_one")
    _fit(MODELS[arch], str(tiny), str(tiny / "one"), batch_size=16)
    _save_draws()
    ddp = checkpoint.load(tiny / "ddp0" / "last.pt")["loop"]["history"]
    one = checkpoint.load(tiny / "one" / "last.pt")["loop"]["history"]
    assert len(ddp) == len(one) == 2
    # The gradient all-reduce keeps the ranks' weights identical, every parameter of
    # both paths included, and the epoch's end averages BatchNorm's running statistics.
    ranks = [torch.load(tiny / f"weights{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys() and len(ranks[0]) > 300
    for name, tensor in ranks[0].items():
        assert torch.equal(tensor, ranks[1][name]), name
    # The epoch's training loss is the mean over every step of both processes, not rank
    # 0's alone. (How close it lands to one process's is not a property to assert: each
    # rank draws its own crops, and BatchNorm sees 8 rows per process instead of 16, so
    # the two runs differ by noise whose size depends on the CPU's kernels: 3.3% here
    # with AVX-512 bf16, 3.5% with AVX2 fp32.)
    steps = [json.loads((tiny / f"draws{r}.losses.json").read_text()) for r in (0, 1)]
    for epoch, a in enumerate(ddp):
        both = [loss for rank in steps for e, loss in rank if e == epoch]
        assert len(both) == 8 and a["train_loss"] == pytest.approx(np.mean(both), rel=1e-9)
        assert all(np.isfinite(both)) and a["train_loss"] > 0
    # Only rank 0 writes: rank 1's folder stays empty.
    assert {p.name for p in (tiny / "ddp0").iterdir()} == {"best.pt", "last.pt"}
    assert not (tiny / "ddp1").exists() or not any((tiny / "ddp1").iterdir())
    # Each rank draws its own augmentation and dropout in every step; rank 0 draws
    # what one process draws (same seed formula), so single-process runs are unchanged.
    draws = [json.loads((tiny / f"draws{r}.json").read_text()) for r in (0, 1)]
    one = json.loads((tiny / "draws_one.json").read_text())
    assert len(draws[0]) == len(draws[1]) == len(one) == 8  # 4 steps x 2 epochs
    for step_0, step_1 in zip(*draws, strict=True):
        assert step_0[0] != step_1[0] and step_0[1] != step_1[1]
    assert draws[0][::4] == one[::4]  # each epoch's first draws
