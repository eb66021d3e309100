"""`cxr score`: a torchxrayvision DenseNet (random weights) and a CheXNet-format state dict
scored on the tiny pipeline's validation and test images, beside cxr's model, and compared
with it through `cxr compare`: unscored findings stay out of every figure and mean."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torchvision import models
from typer.testing import CliRunner

from commands.cli import app
from cxr.findings import FINDINGS
from cxr.numbers import with_interval
from cxr.processed import open_split

pytest.importorskip("torchxrayvision", reason="torchxrayvision is a test dependency")
CHEX = {"Atelectasis", "Consolidation", "Pneumothorax", "Edema", "Effusion", "Pneumonia",
        "Cardiomegaly"}  # fmt: skip


def _cxr(root: Path, *args: str):
    here = Path.cwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def xrv_scored(tiny_pipeline, tmp_path_factory):
    out = tmp_path_factory.mktemp("peer") / "xrv-chex"
    args = ["score", "--model", "xrv:densenet121-res224-chex", "--random-init", "--out", str(out),
            "--external", "demo_hospital"]  # fmt: skip
    result = _cxr(tiny_pipeline, *args)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_a_peer_scores_the_same_images_and_leaves_what_it_lacks_unscored(tiny_pipeline, xrv_scored):
    out, output = xrv_scored
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("val", "test"):
        ours = pd.read_parquet(tiny_pipeline / f"data/predictions/{split}.parquet")
        peer = pd.read_parquet(out / f"{split}.parquet")
        assert peer.image_id.tolist() == ours.image_id.tolist() and (peer.split == split).all()
        for finding in FINDINGS:
            probs = peer[f"p_{finding}"]
            if finding in CHEX:
                assert probs.between(0, 1).all(), finding
            else:
                assert probs.isna().all(), finding  # never a zero
    test = pd.read_parquet(out / "test.parquet")
    for finding in FINDINGS:
        figure = metrics["test"]["auroc"][finding]
        if finding in CHEX and 0 < test[finding].sum() < len(test):
            assert figure == pytest.approx(
                roc_auc_score(test[finding], test[f"p_{finding}"]), abs=1e-6
            )
        elif finding not in CHEX:
            assert figure is None
    assert metrics["trained_on"] == "CheXpert" and metrics["nih_test_overlap"].startswith("none")
    assert metrics["random_init"] is True and "RANDOM WEIGHTS" in output
    report = (out / "report.md").read_text()
    assert "Random weights" in report and "| Infiltration | " in report and "not scored" in report


def test_the_comparison_with_cxr_covers_the_findings_both_score(tiny_pipeline, xrv_scored):
    out, _ = xrv_scored
    versus = json.loads((out / "metrics.json").read_text())["vs_cxr_test"]
    ours = json.loads((tiny_pipeline / "reports/evaluation.json").read_text())["test"]["auroc"]
    theirs = json.loads((out / "metrics.json").read_text())["test"]["auroc"]
    both = [f for f in FINDINGS if ours[f] is not None and theirs[f] is not None]
    assert versus["classes_in_mean"] == both and set(both) <= CHEX
    expected = np.mean([theirs[f] for f in both]) - np.mean([ours[f] for f in both])
    assert versus["mean_auroc"]["difference"] == pytest.approx(expected, abs=1e-5)
    assert versus["auroc"]["Infiltration"]["difference"] is None
    result = _cxr(tiny_pipeline, "compare", "data/predictions", str(out), "--test",
                  "--resamples", "100")  # fmt: skip
    assert result.exit_code == 0 and result.output.startswith("FINAL REPORT"), result.output


def _test_files(root: Path, rows: int) -> tuple[pd.DataFrame, list[str]]:
    """The first ``rows`` of the test split's index and their original files."""
    index = open_split(root / "data/processed", "test")[1].head(rows)
    return index, [str(root / "data/raw/demo" / path) for path in index.path]


def _predicted(root: Path, out: Path, *args: str) -> pd.DataFrame:
    result = _cxr(root, "predict", *args, "--out", str(out))
    assert result.exit_code == 0, result.output
    return pd.read_csv(out).set_index("path")


def test_a_chexnet_state_dict_scores_all_fourteen_and_predicts_as_scored(tiny_pipeline, tmp_path):
    torch.manual_seed(0)
    state = models.densenet121(weights=None, num_classes=14).state_dict()
    torch.save({"state_dict": {f"module.densenet121.{k}": v for k, v in state.items()}},
               tmp_path / "model.pth.tar")  # fmt: skip
    out, spec = tmp_path / "chexnet", f"chexnet:{tmp_path / 'model.pth.tar'}"
    result = _cxr(tiny_pipeline, "score", "--model", spec, "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "test.parquet")
    assert table[[f"p_{f}" for f in FINDINGS]].notna().all().all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["scored"] == list(FINDINGS) and metrics["nih_test_overlap"].startswith("unknown")
    index, files = _test_files(tiny_pipeline, 6)
    predicted = _predicted(tiny_pipeline, tmp_path / "p.csv", *files, "--model", spec,
                           "--scores", str(out))  # fmt: skip
    scored = table.set_index("image_id").loc[index.image_id]
    thresholds = json.loads((out / "thresholds.json").read_text())["thresholds"]
    for file, (_, row) in zip(files, scored.iterrows(), strict=True):
        for f in FINDINGS:  # the probability cxr score gave the same image
            assert predicted.loc[file, f"p_{f}"] == pytest.approx(row[f"p_{f}"], abs=1e-5), f
        over = {f for f in FINDINGS if row[f"p_{f}"] >= thresholds[f]}
        assert set(str(predicted.loc[file, "findings"]).split(";")) - {"nan"} == over
    other = models.densenet121(weights=None, num_classes=14).state_dict()  # other weights
    torch.save(other, tmp_path / "other.pth")
    refused = _cxr(tiny_pipeline, "predict", files[0], "--model", f"chexnet:{tmp_path}/other.pth",
                   "--scores", str(out))  # fmt: skip
    assert refused.exit_code == 2 and "fitted for other weights" in refused.output
    no_cam = _cxr(tiny_pipeline, "predict", files[0], "--model", spec, "--scores", str(out),
                  "--cam", str(tmp_path / "cams"))  # fmt: skip
    assert no_cam.exit_code == 2 and "cxr's own model" in no_cam.output
    mixed = _cxr(tiny_pipeline, "predict", files[0], "--scores", str(out))  # cxr's checkpoint
    assert mixed.exit_code == 2 and "are for a peer" in mixed.output


def test_a_peer_predicts_nothing_for_what_it_lacks(tiny_pipeline, xrv_scored, tmp_path):
    out, _ = xrv_scored
    index, files = _test_files(tiny_pipeline, 3)
    predicted = _predicted(tiny_pipeline, tmp_path / "p.csv", *files, str(tmp_path / "gone.png"),
                           "--model", "xrv:densenet121-res224-chex", "--random-init",
                           "--scores", str(out))  # fmt: skip
    scored = pd.read_parquet(out / "test.parquet").set_index("image_id").loc[index.image_id]
    thresholds = json.loads((out / "thresholds.json").read_text())["thresholds"]
    assert set(thresholds) == CHEX
    for file, (_, row) in zip(files, scored.iterrows(), strict=True):
        for f in FINDINGS:
            if f in CHEX:  # the same seeded random weights as cxr score's
                assert predicted.loc[file, f"p_{f}"] == pytest.approx(row[f"p_{f}"], abs=1e-5)
            else:
                assert np.isnan(predicted.loc[file, f"p_{f}"]), f  # empty, never a zero
        over = {f for f in CHEX if row[f"p_{f}"] >= thresholds[f]}  # each its own threshold
        assert set(str(predicted.loc[file, "findings"]).split(";")) - {"nan"} == over
    as_json = _cxr(
        tiny_pipeline,
        "predict",
        files[0],
        "--model",
        "xrv:densenet121-res224-chex",
        "--random-init",
        "--scores",
        str(out),
        "--out",
        str(tmp_path / "p.json"),
    )
    assert as_json.exit_code == 0, as_json.output
    record = json.loads((tmp_path / "p.json").read_text())[0]
    assert record["p_Infiltration"] is None and record["p_Edema"] is not None
    assert "cannot read" in predicted.loc[str(tmp_path / "gone.png"), "error"]
    unscored = _cxr(tiny_pipeline, "predict", files[0], "--model", "xrv:densenet121-res224-nih",
                    "--random-init", "--scores", str(tmp_path / "none"))  # fmt: skip
    assert unscored.exit_code == 2
    assert "cxr score --model xrv:densenet121-res224-nih --random-init" in unscored.output
    old = tmp_path / "old"  # a folder cxr score wrote before it fingerprinted weights
    old.mkdir()
    figures = json.loads((out / "metrics.json").read_text())
    (old / "metrics.json").write_text(json.dumps({k: v for k, v in figures.items()
                                                  if k != "weights_sha256"}))  # fmt: skip
    stale = _cxr(tiny_pipeline, "predict", files[0], "--model", "xrv:densenet121-res224-chex",
                 "--random-init", "--scores", str(old))  # fmt: skip
    assert stale.exit_code == 2 and "before weights were fingerprinted" in stale.output
    chexnet = _cxr(tiny_pipeline, "score", "--model", "chexnet:any.pth", "--random-init")
    assert chexnet.exit_code == 2 and "random weights are for xrv models" in chexnet.output


def test_missing_weights_stop_with_the_path_looked_in(tiny_pipeline, tmp_path):
    result = _cxr(tiny_pipeline, "score", "--model", "xrv:densenet121-res224-nih",
                  "--xrv-cache", str(tmp_path))  # fmt: skip
    assert result.exit_code == 2 and str(tmp_path) in result.output and "wget" in result.output


def test_a_peer_on_an_external_set_is_scored_against_its_own_nih_test(tiny_pipeline, xrv_scored):
    out, _ = xrv_scored
    metrics = json.loads((out / "metrics.json").read_text())
    figures = metrics["external"]["demo_hospital"]
    ours = pd.read_parquet(tiny_pipeline / "data/external/demo_hospital/predictions.parquet")
    table = pd.read_parquet(out / "external/demo_hospital.parquet")
    assert table.image_id.tolist() == ours.image_id.tolist() and (table.split == "external").all()
    assert set(figures["scored"]) == CHEX  # what CheXpert labels and -chex outputs: here equal
    for finding in figures["classes_in_mean"]:
        assert figures["per_class"][finding]["nih_test_auroc"] == metrics["test"]["auroc"][finding]
        known = table[finding].notna()
        expected = roc_auc_score(table.loc[known, finding], table.loc[known, f"p_{finding}"])
        assert figures["per_class"][finding]["auroc"] == pytest.approx(expected, abs=1e-6)
    assert figures["vs_cxr"]["auroc"]["Infiltration"]["difference"] is None
    assert "## External set demo_hospital" in (out / "report.md").read_text()
    wrong = _cxr(tiny_pipeline, "score", "--model", "xrv:densenet121-res224-chex",
                 "--random-init", "--external", "nowhere")  # fmt: skip
    assert wrong.exit_code == 2 and "no entry named 'nowhere' in external.sets" in wrong.output


def test_a_peer_named_in_params_is_scored_by_its_stage(tiny_pipeline, tmp_path):
    from tests.conftest import TINY_PIPELINE

    root = tmp_path / "run"  # a copy: the shared tiny pipeline keeps only its own outputs
    for part in ("data/raw", "data/processed", "data/predictions", "data/external", "reports"):
        shutil.copytree(tiny_pipeline / part, root / part)
    params = root / "params.yaml"
    params.write_text(
        TINY_PIPELINE + "peers:\n  models:\n"
        '  - {name: chex, model: "xrv:densenet121-res224-chex", random_init: true}\n'
        # The second hospital only (the third adds time, not checks), with the external
        # figures' own intervals; no sources comparison without the third.
        "external:\n  bootstrap: 200\n  seed: 3\n  sets:\n"
        "  - {name: demo_hospital, format: chexpert, folder: data/raw/demo_external}\n"
        "sources: {added: []}\n"
    )
    result = _cxr(root, "peer", "chex", "--params", str(params))
    assert result.exit_code == 0, result.output
    headline = json.loads((root / "metrics/peers/chex.json").read_text())
    metrics = json.loads((root / "data/peers/chex/metrics.json").read_text())
    assert headline["test_mean_auroc"] == metrics["test"]["mean_auroc"]
    assert headline["minus_cxr_test"] == metrics["vs_cxr_test"]["mean_auroc"]
    assert metrics["weights_sha256"].startswith(headline["weights_sha256"])
    assert (
        headline["external_demo_hospital"]["mean_drop"]
        == (metrics["external"]["demo_hospital"]["mean_drop"])
    )  # peers.external: every set of external.sets
    assert (root / "data/peers/chex/external/demo_hospital.parquet").is_file()
    on_set = metrics["external"]["demo_hospital"]
    assert on_set["resamples"] == on_set["vs_cxr"]["resamples"] == 200  # external's, as cxr's
    # A CheXpert-trained peer on the demo's phantoms in CheXpert's layout: not its data.
    assert on_set["training_overlap"] is None and on_set["origin"] == "external"
    assert metrics["vs_cxr_test"]["resamples"] == 1000  # evaluate's, on the NIH test split
    report = (root / "reports/peers/chex.md").read_text()
    assert report.startswith("# xrv:densenet121-res224-chex") and "Random weights" in report
    assert headline["weights_tracked_by_dvc"] is True  # seeded: nothing to track
    unknown = _cxr(root, "peer", "other", "--params", str(params))
    assert unknown.exit_code == 2 and "no entry named 'other' in peers.models" in unknown.output
    _the_same_tables_hold_both(root, params, metrics)
    _weights_outside_the_weights_folder_are_flagged(root, params, tmp_path)


def _weights_outside_the_weights_folder_are_flagged(root: Path, params: Path, tmp: Path) -> None:
    torch.save(models.densenet121(weights=None, num_classes=14).state_dict(), tmp / "cx.pth")
    (root / "weights").mkdir()
    shutil.copy(tmp / "cx.pth", root / "weights/cx.pth")
    params.write_text(params.read_text().replace("peers:\n  models:\n", (
        "peers:\n  models:\n"
        f'  - {{name: outside, model: "chexnet:{tmp / "cx.pth"}"}}\n'
        '  - {name: inside, model: "chexnet:weights/cx.pth"}\n'
    )))  # fmt: skip
    for name, tracked in (("outside", False), ("inside", True)):
        result = _cxr(root, "peer", name, "--params", str(params))
        assert result.exit_code == 0, result.output
        headline = json.loads((root / f"metrics/peers/{name}.json").read_text())
        assert headline["weights_tracked_by_dvc"] is tracked
        assert ("DVC does not track it" in result.output) is not tracked


def _the_same_tables_hold_both(root: Path, params: Path, metrics: dict) -> None:
    """peers_report: the peer's row and column beside cxr's, from the two stages' figures."""
    result = _cxr(root, "peers-report", "--params", str(params))
    assert result.exit_code == 0, result.output
    lines = (root / "reports/peers.md").read_text().splitlines()
    ours = json.loads((root / "reports/evaluation.json").read_text())["test"]
    test, versus = metrics["test"], metrics["vs_cxr_test"]["mean_auroc"]
    row = next(line for line in lines if line.startswith("| chex (xrv:densenet121-res224-chex"))
    assert "RANDOM WEIGHTS" in row and "| CheXpert | none |" in row
    assert with_interval(test["mean_auroc"], test["ci"]["mean_auroc"]) in row
    assert f"{with_interval(versus['difference'], versus)} over {len(CHEX)} |" in row
    mine = next(line for line in lines if line.startswith("| cxr (this pipeline) |"))
    assert with_interval(ours["mean_auroc"], ours["ci"]["mean_auroc"]) in mine
    infiltration = next(line for line in lines if line.startswith("| Infiltration |"))
    assert infiltration.endswith("| not scored |")  # the peer's column: no output, no number
    external = [line for line in lines if line.startswith("| demo_hospital |")]
    drop = metrics["external"]["demo_hospital"]
    assert (
        len(external) == 2
        and with_interval(drop["mean_drop"], drop["mean_drop_ci"]) in (external[1])
    )
