"""`cxr predict`: the evaluate stage's probabilities from files, DICOM = PNG, error rows."""

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from commands.cli import app
from cxr.findings import FINDINGS
from cxr.inference import Predictor
from tests.test_decode import dicom_bytes

P = [f"p_{n}" for n in FINDINGS]


@pytest.fixture()
def run(tiny_pipeline, monkeypatch):
    monkeypatch.chdir(tiny_pipeline)
    return CliRunner()


def test_predict_reproduces_the_evaluate_stage(run, tmp_path):
    index = pd.read_parquet("data/processed/test.parquet")
    files = [str(Path("data/raw/demo") / p) for p in index.path]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(files[1:]) + "\n")
    out = tmp_path / "pred.csv"
    # Batched as evaluate batches (evaluate.batch_size, 128: the whole split), the same
    # forward passes: the same probabilities whatever the precision.
    args = ["predict", files[0], f"@{listing}", "--out", str(out), "--batch-size", "128"]
    result = run.invoke(app, args)
    assert result.exit_code == 0, result.output
    ours = pd.read_csv(out, keep_default_na=False)
    assert ours.path.tolist() == files and (ours.error == "").all()
    stage = pd.read_parquet("data/predictions/test.parquet")
    np.testing.assert_allclose(ours[P].to_numpy(), stage[P].to_numpy(), atol=1e-5, rtol=0)
    # The same forward passes, the same input guard's verdicts.
    assert ours.guard_reason.tolist() == stage.guard_reason.tolist()
    np.testing.assert_allclose(ours.guard_distance, stage.guard_distance, rtol=1e-3)
    # Batched otherwise, as far apart as the precision the model computes in rounds: bf16
    # kernels (native ones especially) may block a batch of 32 unlike one of 128.
    result = run.invoke(app, ["predict", files[0], f"@{listing}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    dtype = Predictor.load("data/model/best.pt").dtype
    tolerance = 1e-5 if dtype == torch.float32 else 1e-2  # bf16: 8 bits of mantissa
    np.testing.assert_allclose(pd.read_csv(out)[P].to_numpy(), stage[P].to_numpy(),
                               atol=tolerance, rtol=0)  # fmt: skip
    # Findings are those at or over the validation thresholds.
    thresholds = json.loads(Path("data/model/thresholds.json").read_text())["thresholds"]
    for k in range(len(stage)):  # none listed for a film the guard refuses
        row = stage.iloc[k]
        over = {n for n in FINDINGS if row[f"p_{n}"] >= thresholds[n]}
        expected = over if row.guard_reason == "" else set()
        assert set(filter(None, ours.findings.iloc[k].split(";"))) == expected


def test_dicom_gives_the_same_result_as_the_same_pixels_in_png(run, tmp_path):
    index = pd.read_parquet("data/processed/test.parquet")
    pixels = cv2.imread(str(Path("data/raw/demo") / index.path[0]), cv2.IMREAD_GRAYSCALE)
    pixels[0, 0], pixels[0, 1] = 0, 255  # full range: DICOM values are scaled by their range
    cv2.imwrite(str(tmp_path / "a.png"), pixels)
    g = pixels.astype(np.uint16) * 16  # 12-bit
    (tmp_path / "b.dcm").write_bytes(dicom_bytes(g, "MONOCHROME2"))
    (tmp_path / "c").write_bytes(dicom_bytes(4095 - g, "MONOCHROME1"))  # no suffix, as PACS
    out = tmp_path / "pred.json"
    result = run.invoke(app, ["predict", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {Path(r["path"]).name: r for r in json.loads(out.read_text())}
    assert set(rows) == {"a.png", "b.dcm", "c"}
    png = np.array([rows["a.png"][p] for p in P])
    for name in ("b.dcm", "c"):
        np.testing.assert_allclose([rows[name][p] for p in P], png, atol=1e-6, rtol=0)


def test_bad_files_get_error_rows_and_the_run_goes_on(run, tmp_path):
    index = pd.read_parquet("data/processed/test.parquet")
    stage = pd.read_parquet("data/predictions/test.parquet")
    thresholds = json.loads(Path("data/model/thresholds.json").read_text())["thresholds"]
    over = (stage[P].to_numpy() >= np.array([thresholds[n] for n in FINDINGS])).sum(1)
    over[stage.guard_reason.to_numpy() != ""] = 0  # a film the guard accepts
    good = str(Path("data/raw/demo") / index.path[int(np.argmax(over))])
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "cut.png").write_bytes(Path(good).read_bytes()[:200])
    bad = [str(tmp_path / "notes.png"), str(tmp_path / "cut.png"), str(tmp_path / "absent.png")]
    out = tmp_path / "pred.csv"
    result = run.invoke(app, ["predict", good, *bad, "--out", str(out), "--cam", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out).set_index("path")
    assert table.loc[bad, P].isna().all().all()
    assert all(isinstance(table.loc[b, "error"], str) for b in bad)
    assert "1 images scored, 0 refused by the guard, 3 unreadable" in result.output
    # Overlays for the positive findings of the good image, one PNG each.
    findings, cams = table.loc[good, "findings"].split(";"), table.loc[good, "cams"].split(";")
    assert len(findings) == len(cams) == over.max() > 0
    assert all(cv2.imread(c).shape[2] == 3 for c in cams)
    # Nothing readable at all: exit code 1.
    result = run.invoke(app, ["predict", *bad, "--out", str(tmp_path / "none.csv")])
    assert result.exit_code == 1
