"""Two data-parallel processes on CPU (gloo) train like one process with the global batch."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cxr.models.registry import ModelConfig, build_model
from cxr.training import checkpoint
from cxr.training.data import EpochBatches, SplitArrays
from cxr.training.loop import TrainConfig, fit
from tests.test_training import write_split

CONFIG = dict(epochs=2, lr=0.003, warmup_epochs=0.5, patience=10)
MODEL = ModelConfig(dropout=0.0)


def test_ranks_split_each_global_batch():
    single = list(EpochBatches(40, 8, seed=1, shuffle=True, drop_last=True))
    r0 = list(EpochBatches(40, 4, seed=1, shuffle=True, drop_last=True, rank=0, world=2))
    r1 = list(EpochBatches(40, 4, seed=1, shuffle=True, drop_last=True, rank=1, world=2))
    assert [a + b for a, b in zip(r0, r1, strict=True)] == single
    evals = [list(EpochBatches(10, 3, 0, False, False, rank=r, world=3)) for r in range(3)]
    rows = sorted(i for batches in evals for b in batches for i in b)
    assert rows == list(range(10))


def _worker(rank: int, folder: str, store: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        model = build_model(MODEL)
        data = SplitArrays(folder, "train"), SplitArrays(folder, "val")
        fit(
            model,
            MODEL,
            *data,
            TrainConfig(batch_size=8, **CONFIG),
            f"{folder}/ddp",
            torch.device("cpu"),
            "f",
        )
    finally:
        dist.destroy_process_group()


@pytest.fixture()
def tiny(tmp_path):
    write_split(tmp_path, "train", 64, seed=1)
    write_split(tmp_path, "val", 32, seed=2)
    return tmp_path


def test_two_gloo_processes_match_one_process(tiny):
    mp.spawn(_worker, args=(str(tiny), str(tiny / "store")), nprocs=2, join=True)
    torch.manual_seed(0)
    model = build_model(MODEL)
    data = SplitArrays(tiny, "train"), SplitArrays(tiny, "val")
    fit(
        model,
        MODEL,
        *data,
        TrainConfig(batch_size=16, **CONFIG),
        tiny / "one",
        torch.device("cpu"),
        "f",
    )
    ddp = checkpoint.load(tiny / "ddp" / "last.pt")["loop"]["history"]
    one = checkpoint.load(tiny / "one" / "last.pt")["loop"]["history"]
    assert len(ddp) == len(one) == 2
    # BatchNorm sees 8 rows per process instead of 16: close, not identical.
    # (Validation loss after 4 steps swings with BatchNorm's running statistics,
    # so the comparison is on the training loss both runs average.)
    for a, b in zip(ddp, one, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=0.03)
    assert (tiny / "ddp" / "best.pt").is_file() and not (tiny / "ddp" / "rank1").exists()
