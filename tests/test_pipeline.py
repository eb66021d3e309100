"""The three stage commands end to end on a tiny demo, as `dvc repro` runs them."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from commands.cli import app
from cxr.findings import FINDINGS
from tests.conftest import ROOT

TINY = """
demo: {images: 48, size: 96, seed: 1, workers: 1, external_images: 0, third_images: 0}
external: {sets: []}
sources: {added: []}
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


def test_tiny_pipeline_through_explain(tiny_pipeline, monkeypatch):
    monkeypatch.chdir(tiny_pipeline)
    runner = CliRunner()
    train = json.loads(Path("metrics/train.json").read_text())
    assert train["weights"] == "none" and train["epochs_run"] == 1 and train["image_size"] == 32
    assert Path("data/model/best.pt").is_file() and Path("data/model/last.pt").is_file()
    assert list(Path("plots/train/plots/metrics/val").glob("mean_auroc.tsv"))
    # Findings a split cannot teach or score are listed (here, as the labels say).
    for split in ("train", "val"):
        y = pd.read_parquet(f"data/processed/{split}.parquet")[list(FINDINGS)].to_numpy()
        gaps = train["label_gaps"][split]
        counts = dict(zip(FINDINGS, y.sum(0), strict=True))
        assert gaps["no_positives"] == [n for n, k in counts.items() if k == 0]
        assert gaps["no_negatives"] == [n for n, k in counts.items() if k == len(y)]
    evaluation = json.loads(Path("reports/evaluation.json").read_text())
    assert set(evaluation["test"]["auroc"]) == set(FINDINGS)
    # The declared metrics: a screenful, validation per class, test means only.
    head = json.loads(Path("metrics/eval.json").read_text())
    assert set(head["val"]["auroc"]) == set(FINDINGS) and "auroc" not in head["test"]
    assert head["test"]["mean_auroc"]["value"] == evaluation["test"]["mean_auroc"]
    assert head["val"]["mean_auroc"]["low"] == evaluation["val"]["ci"]["mean_auroc"]["low"]
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
    # Intervals by patient around every AUROC; calibration; subgroups; expert labels.
    ci = evaluation["test"]["ci"]
    assert ci["unit"] == "patient" and ci["resamples"] == 1000
    # The tiny test split lacks a rare finding's positive in many resamples: the mean's
    # interval says how many it rests on, and is withheld when that is under 90%.
    mean_ci = ci["mean_auroc"]
    assert mean_ci["unit"] == "patient" and mean_ci["resamples"] == 1000
    if mean_ci["usable_resamples"] >= 900:
        assert mean_ci["low"] <= evaluation["test"]["mean_auroc"] <= mean_ci["high"]
    else:
        assert mean_ci["low"] is None and "resamples define it" in mean_ci["withheld"]
        assert "no interval" in Path("reports/evaluation.md").read_text()
    assert set(ci["auroc"]) == set(FINDINGS)
    assert json.loads(Path("data/model/calibration.json").read_text())["fitted_on"] == "val"
    assert list(pd.read_csv("plots/eval/calibration.csv").columns[:3]) == [
        "predicted",
        "perfect",
        "Atelectasis",
    ]
    for attribute in ("sex", "age", "view"):
        groups = evaluation["subgroups"][attribute]
        assert sum(g["images"] for g in groups.values()) == evaluation["test"]["images"]
    expert_result = evaluation["expert_labels"]
    assert expert_result["images"] == evaluation["test"]["images"]
    assert sum(expert_result["not_in_test_split"].values()) == 160 - expert_result["images"]
    report = Path("reports/evaluation.md").read_text()
    assert "sha256" in report and "CheXNet" in report and "not comparable" in report
    assert "| Hernia |" in report and "Radiologist labels" in report
    assert "Intended use" in Path("reports/model_card.md").read_text()
    explain = json.loads(Path("metrics/explain.json").read_text())
    pointing = explain["pointing"]
    assert explain["cases"] > 0 and {"value", "low", "high", "unit", "usable_resamples"} <= set(
        pointing
    )
    assert pointing["unit"] == "patient" and pointing["resamples"] == 1000
    if pointing["low"] is None:
        assert pointing["withheld"]
    else:
        assert pointing["low"] <= pointing["value"] <= pointing["high"]
    # Every localisation figure, per class and as the mean, carries its interval.
    detail = json.loads(Path("reports/localisation.json").read_text())
    figures = {"pointing", "iobb_0.25", "iou_0.5", "mean_iou", "random_pointing", "mean_iou_gain"}
    for block in [detail["mean"], *detail["per_class"].values()]:
        assert figures <= set(block)
        assert all({"low", "high"} <= set(block[f]) for f in figures)
    assert detail["mean"]["pointing"]["value"] == explain["pointing"]["value"]
    assert detail["tolerance_shape"] == "disk" and detail["control"]["cam_grids"] == [
        2
    ]  # 32 px, stride 16
    assert "T(IoBB) 0.25" in Path("reports/localisation.md").read_text()
    # A paired comparison of a run with itself, on validation by default: zero
    # difference, zero-width interval.
    both = ["data/predictions", "data/predictions"]
    result = runner.invoke(app, ["compare", *both, "--resamples", "100", "--json", "compare.json"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Validation split: compare and choose here")
    same = json.loads(Path("compare.json").read_text())
    assert same["split"] == "val" and same["purpose"] == "choosing"
    assert same["images"] == len(pd.read_parquet("data/predictions/val.parquet"))
    diff = same["mean_auroc"]
    assert diff["difference"] == 0.0
    # On the tiny split the mean's interval may rest on too few resamples to be shown, and
    # then neither is its p-value.
    if diff.get("withheld"):
        assert diff["low"] is None and diff["p_value"] is None
    else:
        assert diff["low"] == diff["high"] == 0.0 and diff["p_value"] == 1.0
    # Test tables need --test, and then the output says it is a final report.
    test_table = "data/predictions/test.parquet"
    result = runner.invoke(app, ["compare", test_table, test_table])
    assert result.exit_code == 2 and "holds the test split, not val" in result.output
    result = runner.invoke(app, ["compare", test_table, test_table, "--test", "--resamples", "50"])
    assert result.exit_code == 0 and result.output.startswith("FINAL REPORT on the test split")
    result = runner.invoke(app, ["compare", "data/predictions", test_table])
    assert result.exit_code == 2 and "holds the test split" in result.output
    # Tables of different images are refused.
    val = pd.read_parquet("data/predictions/val.parquet")
    val.iloc[1:].to_parquet("fewer.parquet")
    result = runner.invoke(app, ["compare", "data/predictions", "fewer.parquet"])
    assert result.exit_code == 2 and "different images" in result.output
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


def test_explain_stops_with_a_message_on_stale_or_damaged_evaluate_outputs(
    tiny_pipeline, tmp_path, monkeypatch
):
    root = tmp_path / "copy"
    shutil.copytree(tiny_pipeline, root)
    monkeypatch.chdir(root)
    runner = CliRunner()
    thresholds = Path("data/model/thresholds.json")
    good = thresholds.read_text()
    for damage in ('{"thresholds": {"Atelectasis": 0.5', '{"thresholds": {"Atelectasis": "x"}}'):
        thresholds.write_text(damage)
        result = runner.invoke(app, ["explain"])
        assert result.exit_code == 2, result.output
        assert (
            "data/model/thresholds.json: " in result.output
            and "dvc repro evaluate" in result.output
        )
        assert result.exception is None or isinstance(result.exception, SystemExit)
    thresholds.write_text(good)
    predictions = Path("data/predictions/test.parquet")
    table = pd.read_parquet(predictions)
    table.iloc[::-1].to_parquet(predictions)  # another row order: stale predictions
    result = runner.invoke(app, ["explain"])
    assert result.exit_code == 2
    assert "test.parquet does not match the split's index" in result.output
    assert "rerun evaluate" in result.output
