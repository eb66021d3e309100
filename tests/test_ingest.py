"""Ingest on real NIH metadata with a partial image folder, on both layouts, and on the demo."""

import shutil

import pandas as pd
import pytest

from cxr.config import IngestConfig
from cxr.findings import FINDINGS
from cxr.ingest import METADATA_COLUMNS, MissingImagesError, ingest
from cxr.nih.boxes import read_box_file


def _nih_config(nih_dir, raw_dir, **kw):
    return IngestConfig(
        raw_dir=str(raw_dir),
        label_file=str(nih_dir / "Data_Entry_2017_v2020.csv.gz"),
        split="official",
        train_val_list=str(nih_dir / "train_val_list.txt"),
        test_list=str(nih_dir / "test_list.txt"),
        **kw,
    )


def test_partial_download_keeps_found_images_and_lists_the_missing(nih_dir):
    result = ingest(_nih_config(nih_dir, nih_dir / "sample"))
    meta, m = result.metadata, result.metrics
    provenance = pd.read_csv(nih_dir / "sample" / "provenance.csv")
    assert len(meta) == len(provenance) == 77
    assert m["missing_images"] == 112_120 - 77
    missing = result.rejected[result.rejected.reason == "image file not found"]
    assert len(missing) == m["missing_images"]
    assert not set(missing.image_id) & set(meta.image_id)
    assert tuple(meta.columns) == METADATA_COLUMNS
    # The official split of each sample image is the one NIH published.
    expected = provenance.set_index("file").split.to_dict()
    for row in meta.itertuples():
        assert (row.split == "test") == (expected[row.image_id] == "test")
    assert (
        m["label_file"]["name"] == "Data_Entry_2017_v2020.csv.gz"
        and len(m["label_file"]["sha256"]) == 64
    )


def test_missing_images_can_be_fatal(nih_dir):
    with pytest.raises(MissingImagesError, match="112043 of 112120 images"):
        ingest(_nih_config(nih_dir, nih_dir / "sample", missing="error"))


def test_images_in_nih_archive_folders_are_found(nih_dir, tmp_path):
    names = sorted(p.name for p in (nih_dir / "sample" / "images").iterdir())[:6]
    for i, name in enumerate(names):
        folder = tmp_path / f"images_{i % 3 + 1:03d}" / "images"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(nih_dir / "sample" / "images" / name, folder / name)
    meta = ingest(_nih_config(nih_dir, tmp_path)).metadata
    assert sorted(meta.image_id) == names
    assert all(
        p.startswith("images_00") and p.endswith("/images/" + n)
        for p, n in zip(meta.path, meta.image_id, strict=False)
    )


def test_real_box_list(nih_dir):
    boxes = read_box_file(nih_dir / "BBox_List_2017.csv.gz")
    assert len(boxes) == 984 and boxes.image_id.nunique() == 880
    # NIH boxed 8 findings, the first 8 of the canonical order ("Infiltrate" read as Infiltration).
    assert set(boxes.finding) == set(FINDINGS[:8])
    assert (boxes[list("xywh")] >= 0).all().all() and (boxes.x + boxes.w <= 1025).all()


def test_demo_ingests_in_both_split_modes(demo_dir):
    for mode in ("patient", "official"):
        result = ingest(IngestConfig(raw_dir=str(demo_dir), split=mode))
        meta = result.metadata
        assert len(meta) == 120 and result.metrics["rejected"] == 0
        assert set(meta.split) == {"train", "val", "test"}
        assert meta.groupby("patient_id").split.nunique().max() == 1
        assert meta[list(FINDINGS)].dtypes.eq("uint8").all()
        # The demo box list holds one box per rendered finding, joined to its split.
        labels = meta.set_index("image_id")[list(FINDINGS)]
        boxes = result.boxes
        assert len(boxes) == int(labels.to_numpy().sum())
        assert all(labels.loc[r.image_id, r.finding] == 1 for r in boxes.itertuples())
        assert (boxes.split == boxes.image_id.map(meta.set_index("image_id").split)).all()


def test_patient_split_metrics_add_up(demo_dir):
    m = ingest(IngestConfig(raw_dir=str(demo_dir))).metrics
    assert sum(s["images"] for s in m["splits"].values()) == m["images"] == 120
    assert sum(s["patients"] for s in m["splits"].values()) == m["patients"]


def test_box_for_unknown_image_is_rejected_with_reason(demo_dir, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(demo_dir, raw)
    with open(raw / "BBox_List_2017.csv", "a") as f:
        f.write("99999999_000.png,Mass,1,2,3,4\n")
    result = ingest(IngestConfig(raw_dir=str(raw)))
    rejected = result.rejected[result.rejected.reason == "box for an image not in the label file"]
    assert rejected.image_id.tolist() == ["99999999_000.png"]
    assert "99999999_000.png" not in set(result.boxes.image_id)
