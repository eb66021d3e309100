"""A preprocess killed with SIGKILL leaves nothing that looks complete, and the rerun gives the
bytes of an uninterrupted run; a ``dvc repro`` killed mid-training resumes to the weights of an
uninterrupted run; two runs from the same params give the same split, arrays, weights and
evaluation."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import digests

PARAMS = """
demo: {images: 300, size: 128, seed: 4, workers: 1, external_images: 0, third_images: 0}
external: {sets: []}
sources: {added: []}
ingest: {raw_dir: data/raw/demo, split: patient, seed: 0}
preprocess: {size: 64, workers: 1}
model: {arch: densenet121, weights: none}
train: {epochs: 2, batch_size: 32}
"""


def _stage(cwd: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"stages.{name}"],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two folders with the same params, each through demo and ingest."""
    runs = []
    for name in ("a", "b"):
        root = tmp_path_factory.mktemp(name)
        (root / "params.yaml").write_text(PARAMS)
        for stage in ("demo", "ingest"):
            _stage(root, stage)
        runs.append(root)
    return runs


def test_same_params_give_the_same_images_and_split(two_runs):
    a, b = two_runs
    assert digests(a / "data/raw/demo") == digests(b / "data/raw/demo")
    meta_a = pd.read_parquet(a / "data/interim/metadata.parquet")
    meta_b = pd.read_parquet(b / "data/interim/metadata.parquet")
    pd.testing.assert_frame_equal(meta_a, meta_b)


def test_killed_preprocess_leaves_nothing_complete_and_reruns_to_the_same_bytes(two_runs):
    a, b = two_runs
    _stage(a, "preprocess")  # the uninterrupted reference
    proc = subprocess.Popen(
        [sys.executable, "-m", "stages.preprocess"],
        cwd=b,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not list((b / "data").glob(".processed.tmp-*/*.npy")):
        assert proc.poll() is None, "preprocess ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    # Nothing a later stage or DVC reads: no output folder, no metrics.
    assert not (b / "data/processed").exists()
    assert not (b / "metrics/preprocess.json").exists()
    assert list((b / "data").glob(".processed.tmp-*"))  # only a hidden, named temporary
    rerun = _stage(b, "preprocess")
    assert "left by a run that was killed" in rerun.stdout
    assert not list((b / "data").glob(".processed.tmp-*"))
    ref, again = a / "data/processed", b / "data/processed"
    for name in ("train.npy", "val.npy", "test.npy"):
        assert (ref / name).read_bytes() == (again / name).read_bytes(), name
    for name in ("train.parquet", "val.parquet", "test.parquet", "rejected.csv"):
        left = pd.read_parquet(ref / name) if name.endswith("parquet") else pd.read_csv(ref / name)
        right = (
            pd.read_parquet(again / name) if name.endswith("parquet") else pd.read_csv(again / name)
        )
        pd.testing.assert_frame_equal(left, right)


def _dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def test_dvc_repro_killed_mid_training_resumes_to_the_uninterrupted_result(two_runs):
    """``dvc repro`` and its stage killed together (SIGKILL to the process group, as a
    scheduler or a closed terminal does); the next ``dvc repro`` is not blocked by the dead
    run's lock, resumes from last.pt and ends bit-identical to an uninterrupted run."""
    import torch

    a, b = two_runs
    for root in (a, b):
        if not (root / "data/processed").is_dir():
            _stage(root, "preprocess")
    _stage(a, "train")  # uninterrupted, the stage command directly
    # b: the train stage under DVC, as dvc.yaml declares it (code deps left out:
    # this folder holds no code).
    (b / "dvc.yaml").write_text(
        f"""stages:
  train:
    cmd: {sys.executable} -m stages.train
    deps: [data/processed]
    params: [model, train, preprocess]
    outs: [data/model/best.pt]
    metrics: [{{metrics/train.json: {{cache: false}}}}]
"""
    )
    subprocess.run(_dvc("init", "--no-scm", "-q"), cwd=b, check=True)
    last = b / "data/model/last.pt"
    proc = subprocess.Popen(
        _dvc("repro", "train"),
        cwd=b,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not last.is_file():  # the first epoch is done
        assert proc.poll() is None, "dvc repro ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)  # into the second epoch
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (b / "dvc.lock").exists()  # DVC recorded nothing for the killed run
    killed_at = torch.load(last, weights_only=True)["loop"]["epoch"]
    assert killed_at == 1  # in the second and last epoch
    resumed = subprocess.run(_dvc("repro", "train"), cwd=b, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resumed after epoch {killed_at}" in resumed.stdout
    assert (b / "dvc.lock").is_file()
    ref = torch.load(a / "data/model/best.pt", weights_only=True)
    got = torch.load(b / "data/model/best.pt", weights_only=True)
    assert ref["epoch"] == got["epoch"] and ref["val_mean_auroc"] == got["val_mean_auroc"]
    for name, tensor in ref["model_state"].items():
        assert torch.equal(tensor, got["model_state"][name]), name
    # Nothing left to do: the resumed result is what DVC recorded.
    status = subprocess.run(
        _dvc("status", "train"), cwd=b, capture_output=True, text=True, check=True
    )
    assert "up to date" in status.stdout, status.stdout


def test_the_two_runs_evaluate_to_the_same_bytes(two_runs):
    """Same params, one run trained straight through and one killed and resumed under DVC:
    the same predictions, thresholds, calibration, metrics and report, byte for byte."""
    a, b = two_runs
    for root in (a, b):
        for stage in ("preprocess", "train"):
            done = root / ("data/processed" if stage == "preprocess" else "data/model/best.pt")
            if not done.exists():
                _stage(root, stage)
        _stage(root, "evaluate")
    for name in (
        "data/predictions/val.parquet",
        "data/predictions/test.parquet",
        "data/model/thresholds.json",
        "data/model/calibration.json",
        "metrics/eval.json",
        "reports/evaluation.json",
        "reports/evaluation.md",
        "plots/eval/roc.csv",
    ):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
