"""The three stage commands end to end on a tiny demo, as `dvc repro` runs them."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

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
