"""The export folder (``cxr export``): weights that load only whole, an ONNX graph that
agrees with PyTorch, a model card whose figures are the evaluate stage's, and a predictor
that needs nothing but the folder."""

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from ruamel.yaml import YAML
from safetensors.torch import load_file, save_file

from cxr.export.check import check_export
from cxr.export.folder import CONFIG, WEIGHTS, load_export
from cxr.export.graph import Graph
from cxr.export.weights import ExportError, load_weights
from cxr.findings import FINDINGS
from cxr.inference import Predictor
from cxr.models.checkpoint import ModelRecord, load_model
from cxr.models.registry import build_model
from cxr.views import Views
from tests.conftest import run_stages

pytest.importorskip("onnxruntime", reason="ONNX Runtime is in the [export] and [dev] extras")


@pytest.fixture(scope="module")
def exported(tiny_pipeline, tmp_path_factory):
    """The tiny pipeline's model exported by the export stage, then copied alone into a
    folder with no ``data/`` beside it."""
    run_stages(tiny_pipeline, "export")
    alone = tmp_path_factory.mktemp("elsewhere") / "model"
    shutil.copytree(tiny_pipeline / "data/export", alone)
    return tiny_pipeline, alone


def test_the_export_rebuilds_the_checkpoints_model_bit_for_bit(exported):
    root, folder = exported
    original, record = load_model(root / "data/model/best.pt")
    predictor = load_export(folder)
    ours, theirs = original.state_dict(), predictor.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert predictor.record == record and predictor.classes == list(FINDINGS)
    images = Views(np.load(root / "data/processed/test.npy")[:16])
    from_pt = Predictor.load(root / "data/model/best.pt")
    assert np.array_equal(predictor.forward().logits(images), from_pt.forward().logits(images))
    assert np.array_equal(predictor.thresholds, from_pt.thresholds)
    assert predictor.guard is not None and predictor.guard.cut == from_pt.guard.cut


def test_onnx_runtime_agrees_with_pytorch_and_the_reference(exported):
    _, folder = exported
    report = check_export(folder)
    assert report["images"] == 8 and report["passed"]
    assert report["torch_vs_reference"] == 0.0  # the same machine, the same fp32 kernels
    assert report["onnx_vs_torch"] < 1e-4 and report["onnx_vs_reference"] < 1e-4
    # The graph takes what config.json tells a user to feed it, at any batch.
    config = json.loads((folder / CONFIG).read_text())
    (graph,) = Graph(folder / "model.onnx").inputs()
    side = config["record"]["preprocess"]["size"]
    assert graph["name"] == config["inputs"][0]["name"] == "image"
    assert graph["type"] == "tensor(float)" and graph["shape"][1:] == [1, side, side]
    assert not isinstance(graph["shape"][0], int)  # a dynamic batch
    # The references are phantoms drawn for the export, not the data's films.
    assert sorted(p.name for p in (folder / "reference").iterdir())[0] == "phantom_00.png"


def test_predict_on_the_folder_alone_gives_the_evaluate_stages_probabilities(exported, tmp_path):
    from typer.testing import CliRunner

    from commands.cli import app

    root, folder = exported
    index = pd.read_parquet(root / "data/processed/test.parquet")
    files = [str(root / "data/raw/demo" / p) for p in index.path]
    out = tmp_path / "pred.csv"
    here = os.getcwd()
    os.chdir(tmp_path)  # no data/ here: only the export folder is read
    try:
        result = CliRunner().invoke(
            app, ["predict", *files, "--model", str(folder), "--out", str(out), "--force",
                  "--batch-size", "128"],
        )  # fmt: skip
    finally:
        os.chdir(here)
    assert result.exit_code == 0, result.output
    probs = [f"p_{n}" for n in FINDINGS]
    stage = pd.read_parquet(root / "data/predictions/test.parquet")[probs].to_numpy()
    np.testing.assert_allclose(pd.read_csv(out)[probs].to_numpy(), stage, atol=1e-5, rtol=0)


def test_the_model_cards_figures_are_the_evaluate_stages(exported):
    root, folder = exported
    card = (folder / "README.md").read_text()
    _, front, body = card.split("---\n", 2)
    meta = YAML(typ="safe").load(front)
    evaluation = json.loads((root / "reports/evaluation.json").read_text())
    label_file = json.loads((root / "metrics/ingest.json").read_text())["label_file"]
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["split"] == "test"
    assert label_file["sha256"] in result["dataset"]["revision"]
    figures = {m["name"]: m for m in result["metrics"]}
    test = evaluation["test"]
    names = {"mean AUROC": ("mean_auroc", test["ci"]["mean_auroc"])}
    names |= {f"AUROC {n}": (n, test["ci"]["auroc"][n]) for n in test["auroc"]}
    for name, (key, ci) in names.items():
        figure = figures[name]
        assert figure["value"] == test.get(key, test["auroc"].get(key)), name
        # the interval as the report gives it, or the reason it gives for none
        if ci["low"] is None:
            assert figure["ci_withheld"] == ci["withheld"] and "ci_low" not in figure, name
        else:
            assert (figure["ci_low"], figure["ci_high"]) == (ci["low"], ci["high"]), name
    external = json.loads((root / "reports/external/demo_hospital.json").read_text())
    assert meta["model-index"][0]["results"][1]["metrics"][0]["value"] == external["mean_auroc"]
    assert meta["license"] == "apache-2.0" and "Not a medical device" in body


@pytest.mark.parametrize(
    "damage",
    ["truncated", "header", "values", "missing key", "wrong shape", "pickle", "absent"],
)
def test_weights_that_would_load_partly_or_wrongly_are_refused_with_the_file_named(
    exported, tmp_path, damage
):
    """The weights file alone is refused on its format, keys and shapes; the folder also on
    its SHA-256, which catches changed tensor values safetensors itself cannot see."""
    _, source = exported
    folder = tmp_path / "export"
    shutil.copytree(source, folder)
    weights = folder / WEIGHTS
    state = {k: v.clone() for k, v in load_file(weights).items()}  # off the file: it is rewritten
    raw = bytearray(weights.read_bytes())
    if damage == "truncated":
        weights.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "header":
        raw[8:16] = b"\xff" * 8  # the header's JSON, overwritten
        weights.write_bytes(bytes(raw))
    elif damage == "values":
        raw[-5] ^= 0xFF  # a byte of the last tensor: still a valid file, every key and shape
        weights.write_bytes(bytes(raw))
    elif damage == "missing key":
        save_file({k: v for k, v in state.items() if "classifier" not in k}, weights)
    elif damage == "wrong shape":
        key = next(k for k in state if k.endswith("classifier.weight"))
        save_file({**state, key: torch.zeros(3, state[key].shape[1])}, weights)
    elif damage == "pickle":
        torch.save(state, weights)  # a zip around a pickle, as best.pt is
    else:
        weights.unlink()
    config = json.loads((folder / CONFIG).read_text())
    model = build_model(ModelRecord.from_payload(config["record"], folder).model_config)
    if damage == "values":
        load_weights(model, weights)  # safetensors cannot tell; the folder's hash can
    else:
        with pytest.raises(ExportError, match=str(weights)):
            load_weights(model, weights)
    with pytest.raises(ExportError, match=str(weights)):
        load_export(folder)


def test_an_export_missing_its_guard_or_with_a_changed_threshold_does_not_load(exported, tmp_path):
    _, source = exported
    folder = tmp_path / "export"
    shutil.copytree(source, folder)
    (folder / "guard.npz").unlink()  # a partial copy would read every file as a radiograph
    with pytest.raises(ExportError, match=r"guard\.npz: missing"):
        load_export(folder)
    shutil.copy(source / "guard.npz", folder)
    thresholds = json.loads((folder / "thresholds.json").read_text())
    thresholds["thresholds"]["Effusion"] = 0.01
    (folder / "thresholds.json").write_text(json.dumps(thresholds))
    with pytest.raises(ExportError, match=r"thresholds\.json: its SHA-256"):
        load_export(folder)


def test_a_folder_that_is_not_an_export_is_named(tmp_path):
    with pytest.raises(ExportError, match=r"config\.json: missing"):
        load_export(tmp_path)
    (tmp_path / CONFIG).write_text(json.dumps({"format": "cxr-export", "format_version": 99}))
    with pytest.raises(ExportError, match="export format 99"):
        load_export(tmp_path)


def test_the_weights_file_has_the_same_bytes_every_time(tmp_path):
    """An export written twice from the same model is the same file (its SHA-256 is in
    config.json, and DVC hashes it): safetensors' header must not vary."""
    from cxr.config import ModelConfig
    from cxr.export.weights import save_weights

    model = build_model(ModelConfig(arch="densenet121", weights="none"))
    for name in ("a", "b", "c"):
        save_weights(model, tmp_path / name, {"format": "cxr-export"})
    assert (
        (tmp_path / "a").read_bytes()
        == (tmp_path / "b").read_bytes()
        == (tmp_path / "c").read_bytes()
    )
    with pytest.raises(ValueError, match="one metadata entry"):
        save_weights(model, tmp_path / "d", {"format": "x", "arch": "y"})
