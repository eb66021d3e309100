"""The external-validation stage end to end: the demo's second hospital through the tiny
pipeline, and crafted images named after real CheXpert and SIIM rows (torchxrayvision's
package data) through ingest, preprocess and scoring, with every row accounted for."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cxr.external.chexpert import read_chexpert
from cxr.external.sets import locate
from cxr.external.siim import read_siim
from cxr.findings import FINDINGS
from cxr.inference import Predictor
from tests.conftest import run_stages, xrv_data_file
from tests.test_decode import dicom_bytes


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_row_of_the_second_hospital_is_scored_or_listed(tiny_pipeline):
    root = tiny_pipeline
    rows = pd.read_csv(root / "data/raw/demo_external/valid.csv")
    out = root / "data/external/demo_hospital"
    table = pd.read_parquet(out / "predictions.parquet")
    excluded = pd.read_csv(out / "excluded.csv")
    assert len(table) + len(excluded) == len(rows) == 50
    assert set(excluded.reason) == {"lateral view (frontal views only)"}
    laterals = rows.Path[rows["Frontal/Lateral"] != "Frontal"]
    assert set(rows.Path[excluded.source_row - 1]) == set(laterals)
    assert (table.split == "external").all() and table.image_id.is_unique
    headline = _json(root / "metrics/external/demo_hospital.json")
    assert headline["images"] == len(table) and headline["excluded"] == len(excluded)


def test_external_figures_agree_with_scikit_learn_and_the_nih_test_split(tiny_pipeline):
    root = tiny_pipeline
    table = pd.read_parquet(root / "data/external/demo_hospital/predictions.parquet")
    detail = _json(root / "reports/external/demo_hospital.json")
    nih = _json(root / "reports/evaluation.json")["test"]["auroc"]
    assert detail["scored"] == ["Atelectasis", "Cardiomegaly", "Effusion", "Pneumonia",
                                "Pneumothorax", "Consolidation", "Edema"]  # fmt: skip
    for name in detail["scored"]:
        known = table[name].notna()
        y, p = table.loc[known, name], table.loc[known, f"p_{name}"]
        figure = detail["per_class"][name]
        assert figure["positives"] == int(y.sum()) and figure["unknown"] == int((~known).sum())
        if 0 < y.sum() < len(y):
            assert figure["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
        if nih[name] is not None and figure["auroc"] is not None:
            assert figure["nih_test_auroc"] == pytest.approx(nih[name], abs=1e-6)
            assert figure["drop"] == pytest.approx(figure["auroc"] - nih[name], abs=2e-6)
    assert not set(detail["per_class"]) & {"Mass", "Nodule", "Hernia"}  # unscored: absent
    report = (root / "reports/external.md").read_text()
    assert report.startswith("# External validation") and "## demo_hospital" in report
    assert "against" in report and "a drop of" in report


def test_external_probabilities_are_what_predict_gives_the_file(tiny_pipeline):
    # Preprocessed as best.pt says and calibrated as evaluate chose: the same as `cxr predict`.
    root = tiny_pipeline
    table = pd.read_parquet(root / "data/external/demo_hospital/predictions.parquet")
    predictor = Predictor.load(root / "data/model/best.pt")
    folder = root / "data/raw/demo_external"
    for row in table.head(4).itertuples():
        probs = predictor.probabilities(predictor.prepare(folder / row.image_id))[0]
        expected = table.loc[row.Index, [f"p_{n}" for n in FINDINGS]].to_numpy(float)
        np.testing.assert_allclose(probs, expected, atol=1e-5)


def _scoring_root(tiny_pipeline: Path, root: Path, entry: dict) -> Path:
    """A folder with the tiny pipeline's trained model and NIH test predictions, and a
    params.yaml whose one external set is ``entry``."""
    for part in ("data/model", "data/predictions"):
        shutil.copytree(tiny_pipeline / part, root / part)
    (root / "params.yaml").write_text(
        f"external:\n  bootstrap: 200\n  workers: 1\n  sets:\n  - {json.dumps(entry)}\n"
        "sources: {added: []}\n"  # the demo's hospitals are not listed: no comparison
    )
    return root


def _radiograph(nih_dir: Path, k: int) -> np.ndarray:
    paths = sorted((nih_dir / "sample" / "images").glob("*.png"))
    return cv2.imread(str(paths[k % len(paths)]), cv2.IMREAD_GRAYSCALE)


def test_crafted_chexpert_rows_are_scored_or_listed_with_a_reason(tiny_pipeline, nih_dir, tmp_path):
    rows = pd.read_csv(xrv_data_file("chexpert_train.csv.gz"), nrows=40)
    folder = tmp_path / "CheXpert-v1.0-small"
    folder.mkdir()
    rows.to_csv(folder / "train.csv", index=False)
    frontal = np.flatnonzero(rows["Frontal/Lateral"] == "Frontal")
    missing, broken = rows.Path[frontal[1]], rows.Path[frontal[3]]
    for k, path in enumerate(rows.Path):
        target = folder / path.removeprefix("CheXpert-v1.0-small/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if path == broken:
            target.write_bytes(b"not a radiograph")
        elif path != missing:
            cv2.imwrite(str(target), _radiograph(nih_dir, k), [cv2.IMWRITE_JPEG_QUALITY, 90])
    entry = {"name": "crafted", "format": "chexpert", "folder": str(folder), "labels": "train.csv"}
    root = _scoring_root(tiny_pipeline, tmp_path / "run", entry)
    run_stages(root, "external crafted", "external-report")

    labels = read_chexpert(folder / "train.csv")
    table = pd.read_parquet(root / "data/external/crafted/predictions.parquet")
    excluded = pd.read_csv(root / "data/external/crafted/excluded.csv")
    assert len(table) + len(excluded) == 40  # every row: scored, or listed with its reason
    by_row = dict(zip(excluded.source_row, excluded.reason, strict=True))
    assert by_row[frontal[1] + 1].startswith("no image file")
    assert by_row[frontal[3] + 1].startswith("image does not decode")
    laterals = set(np.flatnonzero(rows["Frontal/Lateral"] != "Frontal") + 1)
    assert {r for r, why in by_row.items() if why.startswith("lateral")} == laterals
    assert len(table) == len(labels.images) - 2
    # U-Ignore: an uncertain label stays unknown in the table, never a negative.
    kept = labels.images.set_index("image").loc[table.image_id]
    np.testing.assert_array_equal(table[list(FINDINGS)].isna(), kept[list(FINDINGS)].isna())
    headline = _json(root / "metrics/external/crafted.json")
    assert headline["images"] == len(table) and set(headline["auroc"]) <= set(labels.scored)
    assert "## crafted" in (root / "reports/external.md").read_text()


def test_crafted_siim_dicoms_are_found_by_name_below_the_folder(tiny_pipeline, nih_dir, tmp_path):
    # SIIM's label file names images by UID; the DICOMs lie in study/series folders.
    table = pd.read_csv(xrv_data_file("siim-pneumothorax-train-rle.csv.gz"))
    table.columns = [c.strip() for c in table.columns]
    positive = table.EncodedPixels.astype(str).str.strip() != "-1"
    ids = list(dict.fromkeys(table.ImageId[positive]))[:6]
    ids += list(dict.fromkeys(table.ImageId[~positive & ~table.ImageId.isin(ids)]))[:6]
    folder = tmp_path / "siim"
    folder.mkdir()
    table[table.ImageId.isin(ids)].to_csv(folder / "train-rle.csv", index=False)
    for k, uid in enumerate(ids):
        if k == 2:
            continue  # no file at all
        copies = 2 if k == 4 else 1  # the same name in two folders: ambiguous
        for c in range(copies):
            target = folder / "dicom-images-train" / f"study{k}.{c}" / f"series{k}" / f"{uid}.dcm"
            target.parent.mkdir(parents=True)
            target.write_bytes(dicom_bytes(_radiograph(nih_dir, k).astype(np.uint16) * 16))
    entry = {"name": "siim_crafted", "format": "siim", "folder": str(folder), "labels": ""}
    root = _scoring_root(tiny_pipeline, tmp_path / "run", entry)
    run_stages(root, "external siim_crafted")

    labels = read_siim(folder / "train-rle.csv")
    scored = pd.read_parquet(root / "data/external/siim_crafted/predictions.parquet")
    excluded = pd.read_csv(root / "data/external/siim_crafted/excluded.csv")
    found = [f"{u}.dcm" for k, u in enumerate(ids) if k not in (2, 4)]
    assert sorted(scored.image_id) == sorted(found)
    reasons = dict(zip(excluded.image, excluded.reason, strict=True))
    assert reasons[f"{ids[2]}.dcm"].startswith("no image file")
    assert reasons[f"{ids[4]}.dcm"].startswith("several files of its name")
    assert len(scored) + len(excluded) == len(labels.images) + len(labels.excluded)
    detail = _json(root / "reports/external/siim_crafted.json")
    assert detail["scored"] == ["Pneumothorax"]
    assert detail["per_class"]["Pneumothorax"]["positives"] == int(scored.Pneumothorax.sum()) == 4
    # A box around each mask: the explain stage's measures on every positive image found.
    located = detail["localisation"]
    assert located["cases"] == 4 and located["patients"] == 4
    assert located["per_class"].keys() == {"Pneumothorax"}
    headline = _json(root / "metrics/external/siim_crafted.json")["localisation"]
    assert 0 <= headline["pointing"]["value"] <= 1 and headline["cases"] == 4
    report = (root / "reports/external/siim_crafted.md").read_text()
    assert "### Localisation of GradCAM maps" in report


def test_a_chexpert_file_is_never_found_by_a_name_another_study_shares(tmp_path):
    # view1_frontal.jpg repeats in every study: found by name it would be another patient's.
    other = tmp_path / "train/patient00002/study1/view1_frontal.jpg"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"someone else")
    images = pd.DataFrame(
        {"source_row": [1], "image": ["train/patient00001/study1/view1_frontal.jpg"]}
    )
    found, missing = locate(images, tmp_path)
    assert found.empty and missing.reason[0].startswith("no image file")
    found, _ = locate(images, tmp_path, by_name=True)  # right where names are identifiers
    assert found.path[0] == "train/patient00002/study1/view1_frontal.jpg"


def test_compare_pairs_two_models_on_an_external_set_on_its_known_labels(tiny_pipeline, tmp_path):
    from typer.testing import CliRunner

    from commands.cli import app

    folder = tiny_pipeline / "data/external/demo_hospital"
    a = pd.read_parquet(folder / "predictions.parquet")
    b = a.copy()
    b["p_Effusion"] = np.random.default_rng(0).random(len(b))  # model B: other Effusion scores
    b["logit_Effusion"] = np.log(b.p_Effusion / (1 - b.p_Effusion))  # what compare ranks
    b.to_parquet(tmp_path / "b.parquet")
    runner = CliRunner()
    out = tmp_path / "compare.json"
    args = ["compare", str(folder), str(tmp_path / "b.parquet"), "--external"]
    result = runner.invoke(app, [*args, "--resamples", "200", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("FINAL REPORT on an external set")
    compared = _json(out)
    known = a.Effusion.notna()
    expected = roc_auc_score(a.Effusion[known], b.p_Effusion[known]) - roc_auc_score(
        a.Effusion[known], a.p_Effusion[known]
    )
    effusion = compared["auroc"]["Effusion"]
    assert effusion["difference"] == pytest.approx(expected, abs=1e-6)
    assert effusion["low"] <= effusion["difference"] <= effusion["high"]
    assert compared["auroc"]["Edema"]["difference"] == 0  # the same probabilities
    assert compared["auroc"]["Mass"]["difference"] is None  # unscored here: no figure
    refused = runner.invoke(app, ["compare", str(folder), str(tmp_path / "b.parquet")])
    assert refused.exit_code == 2 and "--external" in refused.output


def test_siim_boxes_land_on_the_array_of_a_file_not_at_1024_px(tmp_path):
    # SIIM's masks are coded on the 1,024-px grid; a 512-px copy of a film keeps its box.
    from cxr.config import PreprocessConfig
    from cxr.external.formats import FORMATS
    from cxr.external.prepare import array_boxes, prepare_set

    cv2.imwrite(str(tmp_path / "film.png"), np.full((512, 512), 90, np.uint8))
    found = pd.DataFrame({"source_row": [1], "image": ["film.png"], "path": ["film.png"]})
    config = PreprocessConfig(size=32, clahe=False, workers=1)
    index, _ = prepare_set(found, tmp_path, tmp_path / "out", config)
    boxes = pd.DataFrame({"image": ["film.png"], "finding": ["Pneumothorax"], "x0": [100],
                          "y0": [200], "x1": [300], "y1": [400], "reader": [""]})  # fmt: skip
    mapped = array_boxes(boxes, index, FORMATS["siim"].box_frame)
    np.testing.assert_allclose(mapped[["x0", "y0", "x1", "y1"]].iloc[0], [3.125, 6.25, 9.375, 12.5])


def test_a_set_with_no_image_file_stops_naming_the_folder_and_writes_nothing(
    tiny_pipeline, tmp_path
):
    folder = tmp_path / "empty_download"
    folder.mkdir()
    shutil.copy(tiny_pipeline / "data/raw/demo_external/valid.csv", folder / "valid.csv")
    entry = {"name": "empty", "format": "chexpert", "folder": str(folder), "labels": ""}
    root = _scoring_root(tiny_pipeline, tmp_path / "run", entry)
    with pytest.raises(AssertionError, match=r"empty_download: none of the \d+ images"):
        run_stages(root, "external empty")
    assert not (root / "data/external/empty").exists()


def test_a_repeated_row_is_listed_not_scored_twice(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    images = pd.DataFrame({"source_row": [1, 2], "image": ["a.png", "a.png"]})
    found, left = locate(images, tmp_path)
    assert list(found.source_row) == [1]
    assert left.to_dict("records") == [
        {"source_row": 2, "image": "a.png", "reason": "the image is listed again"}
    ]


def test_a_set_s_folder_and_label_file_are_checked_by_name(tmp_path):
    from cxr.errors import InputError
    from cxr.external.sets import read_set

    with pytest.raises(InputError, match="no such folder"):
        read_set("chexpert", tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"no such label file for a vindr set"):
        read_set("vindr", tmp_path)
    with pytest.raises(InputError, match="leave 'labels' empty"):
        read_set("mimic", tmp_path, "mimic-cxr-2.0.0-chexpert.csv")
    with pytest.raises(InputError, match=r"neither mimic-cxr-2\.0\.0-chexpert\.csv nor"):
        read_set("mimic", tmp_path)  # an InputError (exit 2), not a traceback
