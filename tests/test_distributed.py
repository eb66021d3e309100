"""Two data-parallel processes on CPU (gloo): the global batch split between them, their own
augmentation and dropout draws, one writer.

They are not bit-identical to one process with the global batch: BatchNorm sees
each process's rows, and each process draws its own crops and dropout masks.
"""

import json
import os
from pathlib import Path

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
    torch's global generator (dropout) into ``folder/name.json``."""
    import cxr.training.loop as loop

    draws, augment_views = [], loop.augment_views

    def recording(views, config, generator):
        state = generator.get_state()
        draws.append([torch.rand(3, generator=generator).tolist(), torch.rand(3).tolist()])
        generator.set_state(state)  # the loop's own draws stay as they were
        return augment_views(views, config, generator)

    loop.augment_views = recording
    loop._recorded = (draws, Path(folder) / f"{name}.json")


def _save_draws() -> None:
    import cxr.training.loop as loop

    draws, path = loop._recorded
    path.write_text(json.dumps(draws))


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


TOLERANCE = {"densenet121": 0.03, "dualpath": 0.08}


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_two_gloo_processes_match_one_process(tiny, arch, monkeypatch):
    mp.spawn(_worker, args=(arch, str(tiny), str(tiny / "store")), nprocs=2, join=True)
    import cxr.training.loop as loop

    # _record_draws replaces the loop's augment_views; undo it after this test (a later
    # test counting the loop's host reads saw the recorder's).
    monkeypatch.setattr(loop, "augment_views", loop.augment_views)
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
    # BatchNorm sees 8 rows per process instead of 16: close, not identical. In the
    # dual path those statistics also move the attention map and so the local crops.
    # (Validation loss after 4 steps swings with BatchNorm's running statistics,
    # so the comparison is on the training loss both runs average.)
    for a, b in zip(ddp, one, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=TOLERANCE[arch])
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
