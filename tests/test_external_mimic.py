"""The MIMIC-CXR-JPG reader on files written to PhysioNet's documented columns (no real MIMIC
metadata can be had here: credentialed access), checked against torchxrayvision's
``MIMIC_Dataset`` on the same files."""

import gzip
import tempfile

import numpy as np
import pandas as pd
import pytest

from cxr.external.chexpert import TO_NIH
from cxr.external.mimic import LABELS, METADATA, SPLIT, read_mimic

OBSERVATIONS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
    "Fracture", "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion",
    "Pleural Other", "Pneumonia", "Pneumothorax", "Support Devices",
]  # fmt: skip


@pytest.fixture()
def mimic(tmp_path):
    """Six studies of four patients; 12 images (PA, AP, LATERAL, LL, one unknown view); one
    study without labels, one image in no split file row."""
    rng = np.random.default_rng(0)
    studies = pd.DataFrame(
        {
            "subject_id": [10000032, 10000032, 10000764, 10000898, 10001217, 10001217],
            "study_id": [50414267, 53189527, 57375967, 50771383, 52067803, 58913004],
        }
    )
    for column in OBSERVATIONS:
        studies[column] = rng.choice([1.0, 0.0, -1.0, np.nan], size=len(studies))
    labelled = studies.iloc[:5]  # study 58913004 has no labels
    views = ["PA", "LATERAL", "AP", "PA", "AP", "LL", "PA", "LATERAL", None, "AP", "PA", "AP"]
    meta = pd.DataFrame(
        {
            "dicom_id": [f"{i:08x}-d{i}" for i in range(12)],
            "subject_id": np.repeat(studies.subject_id, 2).to_numpy(),
            "study_id": np.repeat(studies.study_id, 2).to_numpy(),
            "ViewPosition": views,
            "Rows": 3056,
            "Columns": 2544,
            "StudyDate": 21800506,
        }
    )
    split = meta[["dicom_id", "study_id", "subject_id"]].assign(split="train")
    split.loc[3, "split"] = "test"
    split = split.drop(index=7)  # an image missing from the split file
    labelled.to_csv(tmp_path / LABELS, index=False)
    with gzip.open(tmp_path / f"{METADATA}.gz", "wt") as f:  # PhysioNet ships them gzipped
        meta.to_csv(f, index=False)
    split.to_csv(tmp_path / SPLIT, index=False)
    return tmp_path, labelled, meta


def test_images_get_their_studys_labels_and_every_left_out_row_is_named(mimic):
    folder, labelled, meta = mimic
    read = read_mimic(folder)
    assert read.images.image.tolist() == [
        "files/p10/p10000032/s50414267/00000000-d0.jpg",
        "files/p10/p10000032/s53189527/00000002-d2.jpg",
        "files/p10/p10000032/s53189527/00000003-d3.jpg",
        "files/p10/p10000764/s57375967/00000004-d4.jpg",
        "files/p10/p10000898/s50771383/00000006-d6.jpg",
        "files/p10/p10001217/s52067803/00000009-d9.jpg",
    ]
    assert read.images.patient_id.nunique() == read.patients == 4
    assert sorted(read.exclusions().items()) == [
        ("its study has no row in mimic-cxr-2.0.0-chexpert.csv", 2),
        ("split unknown", 1),
        ("view LATERAL (frontal views only: PA, AP)", 1),
        ("view LL (frontal views only: PA, AP)", 1),
        ("view unknown (frontal views only: PA, AP)", 1),
    ]
    assert len(read.images) + len(read.excluded) == len(meta)
    by_study = labelled.set_index("study_id")
    study = read.images.image.str.extract(r"/s(\d+)/", expand=False).astype(int)
    for finding, column in TO_NIH.items():
        raw = by_study.loc[study, column].to_numpy()
        ours = read.images[finding].to_numpy()
        np.testing.assert_array_equal(ours, np.where(raw == -1, np.nan, np.nan_to_num(raw)))
    only_test = read_mimic(folder, splits=("test",))
    assert only_test.images.image.str.endswith("d3.jpg").all() and len(only_test.images) == 1


def test_uncertain_policy_and_all_views(mimic):
    folder, _, _ = mimic
    ignore, positive = read_mimic(folder), read_mimic(folder, uncertain="positive")
    for finding in TO_NIH:
        uncertain = ignore.images[finding].isna()
        assert (positive.images.loc[uncertain, finding] == 1).all()
    every_view = read_mimic(folder, frontal_only=False)
    assert len(every_view.images) == 9 and (~every_view.images.frontal).sum() == 3


def test_agrees_with_torchxrayvision_but_for_blanks(mimic):
    xrv = pytest.importorskip("torchxrayvision", reason="torchxrayvision is the oracle")
    folder, _, _ = mimic
    ours = read_mimic(folder, frontal_only=False, splits=("train", "test"))
    peer = xrv.datasets.MIMIC_Dataset(
        imgpath=tempfile.mkdtemp(),
        csvpath=str(folder / LABELS),
        metacsvpath=str(folder / f"{METADATA}.gz"),
        views=["*"],
        unique_patients=False,
    )
    theirs = pd.DataFrame(peer.labels, columns=peer.pathologies, index=peer.csv.dicom_id)
    mine = ours.images.set_index(ours.images.image.str.extract(r"/([^/]+)\.jpg$", expand=False))
    theirs = theirs.loc[mine.index]
    rows = peer.csv.set_index("dicom_id").loc[mine.index]
    healthy = (rows["No Finding"] == 1).to_numpy()
    for finding, column in TO_NIH.items():
        a, b = theirs[finding].to_numpy(), mine[finding].to_numpy()
        known = ~np.isnan(a) & ~np.isnan(b)
        assert (a[known] == b[known]).all(), finding
        # Only blanks differ: unknown to torchxrayvision (unless "No Finding"), negative here.
        blank = rows[column].isna().to_numpy() & ~healthy
        assert ((np.isnan(a) & (b == 0)) == blank).all(), finding
        uncertain = (rows[column] == -1).to_numpy()
        assert (np.isnan(b) == uncertain).all(), finding


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"neither mimic-cxr-2.0.0-metadata.csv nor"):
        (tmp_path / LABELS).write_text("subject_id,study_id\n")
        read_mimic(tmp_path)


def test_a_repeated_study_or_image_is_an_error_naming_the_file(mimic):
    from cxr.errors import InputError

    folder, labelled, _ = mimic
    pd.concat([labelled, labelled.iloc[:1]]).to_csv(folder / LABELS, index=False)
    with pytest.raises(InputError, match=r"chexpert\.csv: 2 rows repeat a subject_id/study_id"):
        read_mimic(folder)
