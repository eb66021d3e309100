"""bench/gpu_check.sh, the one script a lent GPU runs, works end to end on the CPU at tiny
sizes: its timings, its ratio and every pipeline step, with outputs a person can check."""

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def check(tmp_path_factory):
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    out = tmp_path_factory.mktemp("gpu-check")
    run = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--device", "cpu", "--tiny", "--no-compile", "--out", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out, run.stdout


def test_it_times_the_bare_step_and_the_dual_path_with_detail_and_gives_their_ratio(check):
    out, _ = check
    throughput = json.loads((out / "throughput.json").read_text())
    assert throughput["size"] == 32 and throughput["detail_size"] == 64
    (row,) = throughput["runs"]  # --no-compile: bf16 + channels_last only
    assert row["precision"] == "bf16+cl"
    ratio = json.loads((out / "ratio.json").read_text())["bf16+cl"]
    assert ratio["bare_densenet121_img_per_s"] > 0
    assert ratio["dualpath_detail_end_to_end_img_per_s"] > 0
    assert ratio["dualpath_over_bare"] == pytest.approx(
        ratio["dualpath_detail_end_to_end_img_per_s"] / ratio["bare_densenet121_img_per_s"],
        abs=1e-3,
    )


def test_it_measures_memory_per_image_with_and_without_checkpointing(check):
    out, _ = check
    memory = json.loads((out / "memory.json").read_text())
    rows = {r["memory_efficient"]: r for r in memory["rows"]}
    assert set(rows) == {False, True} and all(r["arch"] == "densenet121" for r in rows.values())
    for row in rows.values():
        assert [p["batch"] for p in row["points"]] == [2, 4] and row["images_per_second"] > 0
        assert row["parameters"] > 6_000_000  # DenseNet121's features and the head
    # What autograd keeps for backward, per image: checkpointing keeps less.
    assert rows[True]["saved_per_image_mib"] < rows[False]["saved_per_image_mib"]


def test_it_runs_every_stage_and_predict_with_the_detail_model(check):
    out, stdout = check
    pipeline = json.loads((out / "pipeline.json").read_text())
    steps = [s["step"] for s in pipeline["steps"]]
    assert steps == [
        "check-params", "demo", "ingest", "preprocess", "train", "evaluate", "explain",
        "external", "predict",
    ]  # fmt: skip
    assert all(s["rc"] == 0 and s["seconds"] > 0 for s in pipeline["steps"])
    metrics = pipeline["metrics"]
    assert metrics["demo"]["images"] == 48
    assert metrics["train"]["epochs_run"] == 1 and metrics["train"]["device"] == "cpu"
    assert metrics["train"]["arch"] == "dualpath"
    assert metrics["eval"]["precision"] == metrics["train"]["precision"]
    assert 0 <= metrics["eval"]["val"]["mean_auroc"]["value"] <= 1
    assert pipeline["external"]["images"] > 0  # the second hospital, scored on the device
    predicted = pipeline["predict"]  # --tiny: 8 demo images, each with the 14 probabilities
    assert predicted["rows"] == 8 and predicted["errors"] == 0
    assert predicted["probability_columns"] == 14 and predicted["probabilities_in_0_1"]
    assert "gpu_check: done" in stdout


def test_it_refuses_cuda_where_there_is_none(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--device", "cuda", "--out", tmp_path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0 and "torch sees no CUDA device" in run.stderr
    assert not (tmp_path / "throughput.json").exists()


def test_the_throughput_bench_refuses_the_detail_model_without_a_detail_size(tmp_path):
    run = subprocess.run(
        [
            sys.executable, "bench/train_throughput.py", "--archs", "dualpath-detail", "--device",
            "cpu", "--out", tmp_path / "t.json",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "dualpath-detail needs --detail-size" in run.stderr
    assert not (tmp_path / "t.json").exists()
