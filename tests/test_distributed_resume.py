"""Two gloo processes with no shared filesystem: rank 0 alone decides what the run is
(fingerprint, resume point) and tells the other, a killed run resumes on both ranks to the
uninterrupted run's weights, and a loss that goes non-finite on one rank stops both with
the step and the rank named."""

import contextlib
import datetime
import json
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cxr import distributed
from cxr.batches import SplitArrays
from cxr.config import ModelConfig, TrainConfig
from cxr.findings import FINDINGS
from cxr.models import checkpoint
from cxr.models.registry import build_model
from cxr.training import loop
from cxr.training.loop import RunFiles, fit
from cxr.training.loss import FocalLoss
from cxr.training.watch import LossWatch, TrainingDiverged
from tests.test_training import write_split

MODEL = ModelConfig(arch="densenet121", dropout=0.0)
CONFIG = TrainConfig(epochs=2, batch_size=8, lr=0.003, warmup_epochs=0.5, patience=10)


TIMEOUT_S = 120


class Killed(Exception):
    pass


def _fit(data: Path, out: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model(MODEL)
    train, val = SplitArrays(data, "train"), SplitArrays(data, "val")
    criterion = FocalLoss.for_labels(train.labels, CONFIG.focal_gamma, CONFIG.class_weight)
    files = RunFiles(out, "f", checkpoint.ModelRecord(MODEL, FINDINGS))
    outcome = fit(model, criterion, train, val, CONFIG, files, torch.device("cpu"))
    state = {n: t.detach().clone() for n, t in model.state_dict().items()}
    return {"state": state, "resumed_from": outcome.resumed_from_epoch}


def _decided_by_rank_0(world: distributed.World) -> dict:
    computed_on = []

    def compute():
        computed_on.append(world.rank)
        return f"hash of rank {world.rank}"

    return {"value": distributed.from_main(compute, world), "computed_on": computed_on}


def _rank_0_fails(world: distributed.World) -> str:
    def compute():
        raise FileNotFoundError("data/processed/train.npy")

    try:
        distributed.from_main(compute, world)
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return "no error"


def _divergence(world: distributed.World) -> str:
    watch = LossWatch(torch.device("cpu"), world, every=5, epoch=1, first_step=10)
    for step in range(5):
        bad = world.rank == 1 and step == 2
        watch.add(torch.tensor(float("nan") if bad else 0.5))
    try:
        watch.check()
    except TrainingDiverged as err:
        return str(err)
    return "no error"


def _worker(rank: int, folder: str, store: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    # A timeout, so that ranks that disagree fail the test rather than hang it.
    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=2,
        timeout=datetime.timedelta(seconds=TIMEOUT_S),
    )  # fmt: skip
    root = Path(folder)
    try:
        world = distributed.current()
        report = {
            "decided": _decided_by_rank_0(world),
            "failed": _rank_0_fails(world),
            "diverged": _divergence(world),
        }
        whole = _fit(root, root / f"whole{rank}")  # each rank its own folder: nothing shared
        one_epoch = loop.train_one_epoch

        def killed_in_epoch_2(*args, **kwargs):
            if args[6] == 1:  # the epoch argument, from 0
                raise Killed
            return one_epoch(*args, **kwargs)

        loop.train_one_epoch = killed_in_epoch_2
        with contextlib.suppress(Killed):
            _fit(root, root / f"cut{rank}")
        loop.train_one_epoch = one_epoch
        report["files_after_kill"] = sorted(p.name for p in (root / f"cut{rank}").glob("*"))
        resumed = _fit(root, root / f"cut{rank}")
        report["resumed_from"] = resumed["resumed_from"]
        report["differing"] = [
            n for n, t in whole["state"].items() if not torch.equal(t, resumed["state"][n])
        ]
        (root / f"report{rank}.json").write_text(json.dumps(report))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ranks")
    write_split(folder, "train", 64, seed=1)
    write_split(folder, "val", 32, seed=2)
    mp.spawn(_worker, args=(str(folder), str(folder / "store")), nprocs=2, join=True)
    return [json.loads((folder / f"report{r}.json").read_text()) for r in (0, 1)]


def test_rank_0_alone_computes_what_decides_the_run(reports):
    assert [r["decided"]["value"] for r in reports] == ["hash of rank 0"] * 2
    assert [r["decided"]["computed_on"] for r in reports] == [[0], []]


def test_a_killed_run_resumes_on_every_rank_without_a_shared_filesystem(reports):
    # Rank 0 wrote last.pt after epoch 1; rank 1's folder holds nothing to resume from.
    assert "last.pt" in reports[0]["files_after_kill"] and reports[1]["files_after_kill"] == []
    # Both resumed at epoch 1 (rank 1 from rank 0's point) and ended bit-identical to
    # the uninterrupted run, BatchNorm's running statistics included.
    assert [r["resumed_from"] for r in reports] == [1, 1]
    assert reports[0]["differing"] == [] and reports[1]["differing"] == []


def test_a_non_finite_loss_on_one_rank_stops_both_naming_it(reports):
    expected = "loss is nan at epoch 2, step 13 on process 1"
    assert [r["diverged"] for r in reports] == [expected, expected]


def test_an_error_on_rank_0_is_raised_on_every_rank_not_a_hang(reports):
    assert reports[0]["failed"] == "FileNotFoundError: data/processed/train.npy"
    assert (
        reports[1]["failed"]
        == "RuntimeError: rank 0 failed: FileNotFoundError: data/processed/train.npy"
    )
