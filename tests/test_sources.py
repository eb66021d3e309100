"""Training on several sources (cxr.external.sources): each source split by its own patients,
official splits kept, unlabelled findings unknown (never negative), and a held-out source
that no training step reads (a test that poisons its labels and checks nothing changes)."""

import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from cxr.batches import EpochBatches, source_weights
from cxr.config import ExternalSet, IngestConfig
from cxr.errors import InputError
from cxr.external.chexpert import TO_NIH
from cxr.external.sources import SOURCE_COLUMNS, ingest_sources, trains_on
from cxr.findings import FINDINGS
from cxr.ingest import ingest
from cxr.splits import SplitError
from tests.conftest import run_stages
from tests.test_external_mimic import mimic  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def two_sources(tiny_pipeline, tmp_path_factory):
    """The tiny pipeline's demo (NIH layout) and its second hospital (CheXpert layout)."""
    root = tmp_path_factory.mktemp("two-sources")
    shutil.copytree(tiny_pipeline / "data/raw", root / "data/raw")
    return root


def _config(root, **overrides) -> IngestConfig:
    hospital = ExternalSet("demo_hospital", "chexpert", str(root / "data/raw/demo_external"))
    values = {"raw_dir": str(root / "data/raw/demo"), "val_fraction": 0.2, "test_fraction": 0.25}
    return IngestConfig(**{**values, "sources": (hospital,), **overrides})


def test_without_sources_the_tables_are_ingests_own(two_sources):
    config = _config(two_sources, sources=())
    plain, joined = ingest(config), ingest_sources(config)
    pd.testing.assert_frame_equal(plain.metadata, joined.metadata)
    assert "source" not in joined.metadata.columns


def test_each_source_is_split_by_its_own_patients_and_keeps_unknown_labels_unknown(two_sources):
    config = _config(two_sources)
    result = ingest_sources(config)
    meta = result.metadata
    assert set(SOURCE_COLUMNS) <= set(meta.columns) and set(meta.resampling_unit) == {"patient"}
    alone = ingest(config).metadata
    nih = meta[meta.source == "nih"]
    # NIH's split is the one it gets alone: adding a source moves none of its patients.
    assert (nih.image_id.to_numpy() == alone.image_id.to_numpy()).all()
    assert (nih.split.to_numpy() == alone.split.to_numpy()).all()
    assert (nih.patient_id == "nih:" + alone.patient_id.astype(str)).all()
    hospital = meta[meta.source == "demo_hospital"]
    assert set(hospital.split) == {"train", "val", "test"}
    assert hospital.groupby("patient_id").split.nunique().max() == 1
    assert not set(nih.patient_id) & set(hospital.patient_id)
    # CheXpert labels 7 of the 14: the other 7 are unknown in every row, never 0.
    unlabelled = [f for f in FINDINGS if f not in TO_NIH]
    assert hospital[unlabelled].isna().all().all()
    truth = pd.read_csv(two_sources / "data/raw/demo_external/_demo_truth.csv")
    truth["image_id"] = "demo_hospital/" + truth.Path.str.replace("CheXpert-v1.0/", "")
    merged = hospital.merge(truth, on="image_id", suffixes=("", "_true"))
    assert len(merged) == len(hospital)
    for finding in TO_NIH:  # a known label is the drawn truth
        known = merged[finding].notna()
        assert (merged.loc[known, finding] == merged.loc[known, f"{finding}_true"]).all()
    # Every lateral is listed with its reason and its row in the label file, none dropped.
    lateral = result.rejected[result.rejected.reason == "lateral view (frontal views only)"]
    listed = pd.read_csv(two_sources / "data/raw/demo_external/valid.csv")
    assert len(lateral) == (listed["Frontal/Lateral"] == "Lateral").sum()
    assert len(hospital) + len(lateral) == len(listed)
    assert lateral.detail.str.contains("row ").all()
    assert result.metrics["sources"]["demo_hospital"]["images"] == len(hospital)


def test_sets_without_patients_of_their_own_are_refused_as_training_sources(two_sources):
    for fmt, why in (("rsna", "NIH ChestX-ray14's own"), ("vindr", "no patient ids")):
        item = ExternalSet(fmt, fmt, str(two_sources / "nowhere"))
        with pytest.raises(InputError, match=why):
            ingest_sources(_config(two_sources, sources=(item,)))


def test_a_held_out_source_goes_to_test_whole(two_sources):
    meta = ingest_sources(_config(two_sources, hold_out="demo_hospital")).metadata
    assert set(meta[meta.source == "demo_hospital"].split) == {"test"}
    nih_held = ingest_sources(_config(two_sources, hold_out="nih")).metadata
    assert set(nih_held[nih_held.source == "nih"].split) == {"test"}


def test_official_lists_are_kept_per_source(two_sources, mimic):  # noqa: F811
    folder, _, meta = mimic
    for row in meta.itertuples():  # a file for every image
        path = folder / f"files/p{str(row.subject_id)[:2]}/p{row.subject_id}/s{row.study_id}"
        path.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path / f"{row.dicom_id}.jpg"), np.full((40, 40), 128, np.uint8))
    mimic_set = ExternalSet("mimic", "mimic", str(folder))
    # The fixture's split file puts one of patient 10000032's images in test: a leak.
    with pytest.raises(SplitError, match="mimic:10000032"):
        ingest_sources(_config(two_sources, sources=(mimic_set,)))
    official = pd.read_csv(folder / "mimic-cxr-2.0.0-split.csv")
    official["split"] = np.where(official.subject_id == 10000764, "test", "train")
    official.to_csv(folder / "mimic-cxr-2.0.0-split.csv", index=False)
    raw = two_sources / "data/raw/demo"
    listed = pd.read_csv(raw / "Data_Entry_2017_v2020.csv")
    patients = listed["Patient ID"].unique()
    test_patients = set(patients[: len(patients) // 4])
    is_test = listed["Patient ID"].isin(test_patients)
    lists = two_sources / "lists"
    lists.mkdir(exist_ok=True)
    (lists / "test.txt").write_text("\n".join(listed["Image Index"][is_test]) + "\n")
    (lists / "tv.txt").write_text("\n".join(listed["Image Index"][~is_test]) + "\n")
    lists_of = {"test_list": str(lists / "test.txt"), "train_val_list": str(lists / "tv.txt")}
    config = _config(two_sources, sources=(mimic_set,), split="official", **lists_of)
    result = ingest_sources(config)
    rows = result.metadata
    nih = rows[rows.source == "nih"]
    assert set(nih.image_id[nih.split == "test"]) == set(listed["Image Index"][is_test])
    mine = rows[rows.source == "mimic"]
    expected = official.set_index("dicom_id").split.map({"train": "train", "test": "test"})
    got = mine.set_index(mine.image_id.str.extract(r"/([^/]+)\.jpg$", expand=False)).split
    assert len(got) and (got == expected.loc[got.index]).all()
    assert "test" in set(got) and result.metrics["sources"]["mimic"]["split_mode"] == "official"


TWO_SOURCES = """
ingest:
  raw_dir: data/raw/demo
  val_fraction: 0.2
  test_fraction: 0.25
  sources: [{name: demo_hospital, format: chexpert, folder: data/raw/demo_external}]
  hold_out: demo_hospital
preprocess: {size: 32, workers: 1}
model: {arch: densenet121, weights: none}
train: {epochs: 1, batch_size: 16}
evaluate: {bootstrap: 200}
"""


def test_a_held_out_source_never_trains_and_gets_its_own_figures(two_sources):
    (two_sources / "params.yaml").write_text(TWO_SOURCES)
    run_stages(two_sources, "check-params", "ingest", "preprocess", "train")
    first = torch.load(two_sources / "data/model/best.pt", weights_only=False)["model_state"]
    run_stages(two_sources, "evaluate")
    # Poison every label of the held-out hospital: no training step may notice.
    labels = two_sources / "data/raw/demo_external/valid.csv"
    table = pd.read_csv(labels)
    table[list(TO_NIH.values())] = 1.0 - table[list(TO_NIH.values())].fillna(0.0).abs()
    table.to_csv(labels, index=False)
    (two_sources / "data/model/last.pt").unlink()
    run_stages(two_sources, "ingest", "preprocess", "train")
    second = torch.load(two_sources / "data/model/best.pt", weights_only=False)["model_state"]
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    held = pd.read_parquet(two_sources / "data/processed/test.parquet")
    assert (held.source == "demo_hospital").any()  # the poison did reach the test split

    report = pd.read_json(two_sources / "reports/evaluation.json", typ="series")
    sources, drop = report["sources"], report["held_out"]
    assert sources["demo_hospital"]["role"] == "held out" and "val" not in sources["demo_hospital"]
    assert sources["demo_hospital"]["findings"] == list(TO_NIH)
    assert drop["findings"] and set(drop["findings"]) <= set(TO_NIH)
    assert drop["ci"]["unit"] == "patient" and drop["ci"]["resamples"] == 200
    assert drop["drop"] == pytest.approx(
        drop["held_out_mean_auroc"] - drop["trained_on_mean_auroc"], abs=2e-6
    )
    headline = report["test"]  # the trained-on sources' test images only
    nih_test = (held.source == "nih").sum()
    assert headline["images"] == nih_test

    # Scored as an external set too: held out, so not flagged, and its "NIH test" figures
    # are NIH's own test images, not the pooled split with the held-out films in it.
    run_stages(two_sources, "external demo_hospital")
    scored = pd.read_json(two_sources / "reports/external/demo_hospital.json", typ="series")
    assert "trained_on" not in scored
    nih = sources["nih"]["test"]["auroc"]
    for finding, figures in scored["per_class"].items():
        assert figures["nih_test_auroc"] == pytest.approx(nih[finding], abs=1e-6), finding


def test_the_sources_stage_compares_the_pipelines_model_with_a_multi_source_one(tiny_pipeline):
    root = tiny_pipeline  # its sources stage ran with the default sources section

    single = pd.read_parquet(root / "data/sources/single.parquet")
    multi = pd.read_parquet(root / "data/sources/multi.parquet")
    # The single-source model is the pipeline's: its logits on the held-out films are the
    # external stage's, film for film.
    scored = pd.read_parquet(root / "data/external/third_hospital/predictions.parquet")
    logits = [f"logit_{f}" for f in FINDINGS]
    assert (single.image_id.to_numpy() == scored.image_id.to_numpy()).all()
    np.testing.assert_array_equal(single[logits].to_numpy(), scored[logits].to_numpy())
    assert not np.array_equal(single[logits].to_numpy(), multi[logits].to_numpy())
    # The multi-source model trained and validated on NIH-like and second-hospital films only.
    for split in ("train", "val"):
        index = pd.read_parquet(root / f"data/sources/processed/{split}.parquet")
        assert set(index.source) == {"nih", "demo_hospital"}, split
    assert not set(index.patient_id) & {"demo_hospital:" + p for p in single.patient_id}

    report = pd.read_json(root / "reports/sources.json", typ="series")
    compared = report["comparison"]
    assert set(compared["auroc"]) <= set(TO_NIH) and compared["images"] == len(single)
    assert compared["unit"] == "patient" and compared["resamples"] == 1000
    sampling = report["training"]["source_sampling"]  # recorded: how an epoch drew sources
    images = sampling["train_images"]
    assert sampling["mode"] == "size" and set(images) == {"nih", "demo_hospital"}
    share = images["demo_hospital"] / sum(images.values())
    assert sampling["share_of_draws"]["demo_hospital"] == pytest.approx(share, abs=1e-4)
    headline = pd.read_json(root / "metrics/sources.json", typ="series")
    assert headline["difference"]["value"] == pytest.approx(
        headline["multi_source_mean_auroc"] - headline["single_source_mean_auroc"], abs=2e-6
    )
    assert "multi minus single" in (root / "reports/sources.md").read_text()


def test_balanced_sampling_gives_each_source_an_equal_share_of_an_epoch():
    index = pd.DataFrame({"source": ["nih"] * 900 + ["small"] * 100})
    assert source_weights(index, "size") is None
    assert source_weights(index[index.source == "nih"].drop(columns="source"), "balanced") is None
    weights = source_weights(index, "balanced")
    sampler = EpochBatches(1000, 50, seed=0, shuffle=True, drop_last=True, weights=weights)
    rows = np.concatenate(list(sampler))
    assert len(rows) == 1000
    assert (rows >= 900).mean() == pytest.approx(0.5, abs=0.05)  # 10% of images, half the draws
    again = np.concatenate(list(sampler))
    np.testing.assert_array_equal(rows, again)  # an epoch's draws repeat exactly (resume)
    sampler.set_epoch(1)
    assert not np.array_equal(rows, np.concatenate(list(sampler)))


def test_an_external_set_the_model_trains_on_is_flagged_not_external(two_sources):
    hospital = ExternalSet("demo_hospital", "chexpert", str(two_sources / "data/raw/demo_external"))
    renamed = ExternalSet("elsewhere", "chexpert", str(two_sources / "data/raw/demo_external/."))
    third = ExternalSet("third_hospital", "chexpert", str(two_sources / "data/raw/demo_third"))
    config = _config(two_sources)  # trains on demo_hospital
    assert trains_on(config, hospital) and trains_on(config, renamed)  # by name, by folder
    assert not trains_on(config, third)
    assert not trains_on(_config(two_sources, hold_out="demo_hospital"), hospital)
    assert not trains_on(_config(two_sources, sources=()), hospital)


def test_the_model_cards_name_every_source_and_the_held_out_ones_drop():
    """A model trained on two sources with a third held out: both cards (evaluate's and the
    export's) list the sources, headline the pooled test split, give the held-out drop, and
    stop calling the training data one institution's."""
    from types import SimpleNamespace

    from ruamel.yaml import YAML

    from cxr.export.card import export_card
    from cxr.report.model_card import model_card_markdown
    from tests.conftest import ROOT

    evaluation = pd.read_json(ROOT / "reports/evaluation.json", typ="series").to_dict()
    ingest = pd.read_json(ROOT / "metrics/ingest.json", typ="series").to_dict()
    ingest["sources"] = {
        "nih": {"format": "nih", "role": "trained on", "images": 8, "patients": 4},
        "chexpert": {"format": "chexpert", "role": "trained on", "images": 8, "patients": 4},
        "mimic": {"format": "mimic", "role": "held out", "images": 5, "patients": 2},
    }
    evaluation["sources"] = {n: {"role": s["role"]} for n, s in ingest["sources"].items()}
    ci = {
        "low": -0.09,
        "high": -0.01,
        "unit": "patient",
        "resamples": 1000,
        "usable_resamples": 1000,
    }
    evaluation["held_out"] = {
        "source": "mimic", "findings": ["Edema", "Effusion"], "drop": -0.05, "ci": ci,
        "held_out_mean_auroc": 0.8, "trained_on_mean_auroc": 0.85,
        "test": {"images": 5, "mean_auroc": 0.8, "ci": {"mean_auroc": ci | {"low": 0.7}}},
    }  # fmt: skip
    record = SimpleNamespace(
        model_config=SimpleNamespace(arch="densenet121"), weights_used="none", epoch=3,
        preprocess=SimpleNamespace(size=224), environment=None,
    )  # fmt: skip
    body = model_card_markdown(evaluation, ingest, record, "NIH ChestX-ray14")
    assert "`chexpert` (chexpert, trained on): 8 images / 4 patients" in body
    assert "## Performance (test split of the sources trained on, pooled)" in body
    assert "Held out of training: `mimic` (5 test images): mean AUROC 0.800 against 0.850" in body
    assert "a drop of -0.050 (-0.090 to -0.010)" in body
    assert "Trained on 2 sources (nih, chexpert)" in body and "One institution" not in body

    card = export_card(record, evaluation, ingest, {}, body, "NIH ChestX-ray14")
    meta = YAML(typ="safe").load(card.split("---\n", 2)[1])
    assert meta["datasets"] == ["NIH ChestX-ray14", "chexpert"]
    headline, held = meta["model-index"][0]["results"]
    assert headline["dataset"]["name"] == "nih + chexpert"
    assert held["dataset"] == {"name": "mimic", "split": "test (held out of training)"}
    assert held["metrics"][0]["value"] == 0.8 and held["metrics"][0]["ci_low"] == 0.7
