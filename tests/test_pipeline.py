"""The three stage commands end to end on a tiny demo, as `dvc repro` runs them."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxr.findings import FINDINGS
from stages.cli import app
from tests.conftest import ROOT

TINY = """
demo: {images: 48, size: 96, seed: 1, workers: 1}
ingest: {raw_dir: data/raw/demo, split: patient, seed: 0, val_fraction: 0.2, test_fraction: 0.2}
preprocess: {size: 64, workers: 1}
"""


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(TINY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_demo_ingest_preprocess(workdir):
    runner = CliRunner()
    for stage in ("demo", "ingest", "preprocess"):
        result = runner.invoke(app, [stage])
        assert result.exit_code == 0, result.output
    demo = json.loads((workdir / "metrics/demo.json").read_text())
    ingest = json.loads((workdir / "metrics/ingest.json").read_text())
    pre = json.loads((workdir / "metrics/preprocess.json").read_text())
    assert demo["images"] == ingest["images"] == pre["images"] == 48
    assert ingest["label_file"]["name"] == "Data_Entry_2017_v2020.csv"
    meta = pd.read_parquet(workdir / "data/interim/metadata.parquet")
    for split in ("train", "val", "test"):
        array = np.load(workdir / f"data/processed/{split}.npy", mmap_mode="r")
        index = pd.read_parquet(workdir / f"data/processed/{split}.parquet")
        assert array.shape == (len(index), 64, 64)
        assert index.image_id.tolist() == meta.image_id[meta.split == split].tolist()
    # Nothing half-written is left beside the outputs.
    assert not [p for p in workdir.rglob(".*tmp-*")]


FULL = """
demo: {images: 160, size: 64, seed: 2, workers: 1}
ingest: {raw_dir: data/raw/demo, split: patient, val_fraction: 0.2, test_fraction: 0.25}
preprocess: {size: 32, workers: 1}
model: {weights: none}
train: {epochs: 1, batch_size: 16}
evaluate: {}
explain: {gallery_per_kind: 2}
"""


def test_tiny_pipeline_through_explain(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(FULL)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for stage in ("demo", "ingest", "preprocess", "train", "evaluate", "explain"):
        result = runner.invoke(app, [stage])
        assert result.exit_code == 0, f"{stage}: {result.output}"
    train = json.loads(Path("metrics/train.json").read_text())
    assert train["weights"] == "none" and train["epochs_run"] == 1 and train["image_size"] == 32
    assert Path("data/model/best.pt").is_file() and Path("data/model/last.pt").is_file()
    assert list(Path("plots/train/plots/metrics/val").glob("mean_auroc.tsv"))
    evaluation = json.loads(Path("metrics/eval.json").read_text())
    assert set(evaluation["test"]["auroc"]) == set(FINDINGS)
    assert evaluation["threshold_policy"] == "max_f1"
    thresholds = json.loads(Path("data/model/thresholds.json").read_text())
    assert thresholds["chosen_on"] == "val" and len(thresholds["thresholds"]) == 14
    test_pred = pd.read_parquet("data/predictions/test.parquet")
    assert len(test_pred) == evaluation["test"]["images"]
    assert (
        (
            (test_pred[[f"p_{n}" for n in FINDINGS]] >= 0)
            & (test_pred[[f"p_{n}" for n in FINDINGS]] <= 1)
        )
        .all()
        .all()
    )
    roc = pd.read_csv("plots/eval/roc.csv")
    assert roc.columns[0] == "fpr" and len(roc.columns) > 1
    assert "| finding | threshold |" in Path("reports/test_confusion.md").read_text()
    explain = json.loads(Path("metrics/explain.json").read_text())
    assert explain["cases"] > 0 and 0 <= explain["mean_pointing"] <= 1
    page = Path("plots/explain/index.html").read_text()
    assert all(f"{n}.jpg" in page for n in FINDINGS)
    assert all(Path(f"plots/explain/{n}.jpg").stat().st_size > 1000 for n in FINDINGS)


def test_bad_input_exits_2_with_a_message(workdir):
    (workdir / "params.yaml").write_text(
        TINY.replace("raw_dir: data/raw/demo", "raw_dir: /nowhere")
    )
    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 2
    assert "raw folder /nowhere does not exist" in result.output


def test_unknown_label_stops_ingest_naming_the_row(workdir):
    runner = CliRunner()
    assert runner.invoke(app, ["demo"]).exit_code == 0
    csv = workdir / "data/raw/demo/Data_Entry_2017_v2020.csv"
    lines = csv.read_text().splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[1], "Pneumonitis", 1)
    csv.chmod(0o644)
    csv.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == 2
    assert "line 6" in result.output and "Pneumonitis" in result.output


def test_params_nih_switch(workdir):
    shutil.copy(ROOT / "params.yaml", workdir / "params.yaml")
    result = CliRunner().invoke(app, ["params", "nih", "--raw-dir", str(workdir)])
    assert result.exit_code == 0, result.output
    assert "ingest.split: 'patient' -> 'official'" in result.output
    result = CliRunner().invoke(app, ["params", "nih", "--raw-dir", str(workdir / "absent")])
    assert result.exit_code != 0
