"""The external data sets' readers on their real label files, which torchxrayvision ships in
its package data: exact counts of rows, patients and positives, and the labels compared row
by row with torchxrayvision's own dataset classes on the same files, every difference
counted and explained (docs/external.md)."""

import ast
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxr.errors import InputError
from cxr.external.chexpert import TO_NIH as CHEXPERT
from cxr.external.chexpert import read_chexpert
from cxr.external.padchest import read_padchest
from cxr.findings import FINDINGS

xrv = pytest.importorskip(
    "torchxrayvision", reason="torchxrayvision (a test dependency) ships the real label files"
)
DATA = Path(os.path.dirname(xrv.__file__)) / "data"
CHEXPERT_CSV = DATA / "chexpert_train.csv.gz"
PADCHEST_CSV = DATA / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"


def _real(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path.name} is not in this torchxrayvision's package data")
    return path


@pytest.fixture(scope="module")
def chexpert():
    return read_chexpert(_real(CHEXPERT_CSV), frontal_only=False)


@pytest.fixture(scope="module")
def chexpert_frontal():
    return read_chexpert(_real(CHEXPERT_CSV))


@pytest.fixture(scope="module")
def padchest():
    return read_padchest(_real(PADCHEST_CSV), frontal_only=False)


def test_chexpert_counts(chexpert, chexpert_frontal):
    assert len(chexpert.images) == 223_414 and chexpert.patients == 64_540  # the paper's
    assert chexpert.scored == tuple(CHEXPERT) and len(chexpert.excluded) == 0
    frontal = chexpert_frontal
    assert len(frontal.images) == 191_027 and frontal.patients == 64_534
    assert frontal.exclusions() == {"lateral view (frontal views only)": 32_387}
    assert frontal.images.view.value_counts().to_dict() == {
        "AP": 161_590, "PA": 29_420, "LL": 16, "RL": 1,
    }  # fmt: skip
    assert frontal.positives() == {
        "Atelectasis": 29_720, "Cardiomegaly": 23_385, "Effusion": 76_899, "Pneumonia": 4_675,
        "Pneumothorax": 17_693, "Consolidation": 12_983, "Edema": 49_675,
    }  # fmt: skip
    ignored = {f: int(frontal.images[f].isna().sum()) for f in frontal.scored}
    assert ignored == {
        "Atelectasis": 29_863, "Cardiomegaly": 6_707, "Effusion": 9_578, "Pneumonia": 15_981,
        "Pneumothorax": 2_708, "Consolidation": 24_381, "Edema": 11_818,
    }  # fmt: skip
    # The seven NIH findings CheXpert has no label for are unscored in every row.
    unscored = [f for f in FINDINGS if f not in CHEXPERT]
    assert frontal.images[unscored].isna().all().all() and len(unscored) == 7


def test_chexpert_uncertain_labels_follow_the_policy(chexpert_frontal):
    ignore = chexpert_frontal
    for policy, becomes in (("positive", 1.0), ("negative", 0.0)):
        other = read_chexpert(CHEXPERT_CSV, uncertain=policy)
        for finding in ignore.scored:
            uncertain = ignore.images[finding].isna()
            assert (other.images.loc[uncertain, finding] == becomes).all()
            known = ignore.images.loc[~uncertain, finding]
            assert other.images.loc[~uncertain, finding].equals(known)


def test_chexpert_agrees_with_torchxrayvision_row_by_row_but_for_blanks(chexpert):
    peer = xrv.datasets.CheX_Dataset(
        imgpath=tempfile.mkdtemp(), csvpath=str(CHEXPERT_CSV), views=["*"], unique_patients=False
    )
    raw = pd.read_csv(CHEXPERT_CSV)
    assert len(peer) == len(chexpert.images)
    assert (peer.csv.Path.str.extract(r"(patient\d+)")[0] == chexpert.images.patient_id).all()
    for finding, column in CHEXPERT.items():
        theirs = peer.labels[:, peer.pathologies.index(finding)]
        ours = chexpert.images[finding].to_numpy()
        known = ~np.isnan(theirs) & ~np.isnan(ours)
        assert (theirs[known] == ours[known]).all(), finding
        # The one difference: a blank (not in the report) is unknown to torchxrayvision
        # and a negative here, as in CheXpert's labeller; "No Finding" rows it zeroes.
        blank = raw[column].isna() & (raw["No Finding"] != 1)
        assert ((np.isnan(theirs) & (ours == 0)) == blank).all(), finding
        # Uncertain (-1) is unknown to both.
        assert (np.isnan(theirs) & np.isnan(ours)).sum() == (raw[column] == -1).sum()


#: Rows whose labels say nothing of their findings: not negative reports.
NOT_REPORTS = {
    "labels say only 'unchanged'": 3_705,
    "labelled 'exclude'": 1_312,
    "no findings listed": 777,
    "no labels (Labels is blank)": 103,
}


def test_padchest_counts(padchest):
    assert padchest.exclusions() == NOT_REPORTS
    assert len(padchest.images) + len(padchest.excluded) == 160_861
    assert len(padchest.images) == 154_964 and padchest.patients == 66_363
    assert padchest.scored == FINDINGS  # a report lists what it found: all 14 are scored
    frontal = read_padchest(PADCHEST_CSV)
    assert len(frontal.images) == 106_498 and frontal.patients == 65_994
    views = {"L": 47_841, "COSTAL": 606, "EXCLUDE": 11, "UNK": 8}
    assert frontal.exclusions() == {
        **NOT_REPORTS,
        **{f"view {v} (frontal only: PA, AP, AP_horizontal)": n for v, n in views.items()},
    }
    assert frontal.positives() == {
        "Atelectasis": 6_168, "Cardiomegaly": 9_837, "Effusion": 7_019, "Infiltration": 4_604,
        "Mass": 632, "Nodule": 2_549, "Pneumonia": 5_223, "Pneumothorax": 416,
        "Consolidation": 1_665, "Edema": 1_299, "Emphysema": 932, "Fibrosis": 715,
        "Pleural_Thickening": 3_373, "Hernia": 1_609,
    }  # fmt: skip


#: torchxrayvision matches PadChest labels by substring and adds synonyms; the rows it
#: calls positive and cxr does not, and the PadChest labels that make them so.
PEER_ONLY = {
    "Effusion": (39, {"pericardial effusion"}),
    "Infiltration": (
        13_121,
        {
            "interstitial pattern", "ground glass pattern", "reticular interstitial pattern",
            "reticulonodular interstitial pattern", "alveolar pattern", "consolidation",
            "air bronchogram",
        },
    ),
    "Mass": (406, {"mediastinal mass", "soft tissue mass", "breast mass", "pleural mass"}),
    "Nodule": (2_159, {"pseudonodule"}),
    "Consolidation": (108, {"air bronchogram"}),
    "Emphysema": (203, {"subcutaneous emphysema"}),
}  # fmt: skip


def test_padchest_agrees_with_torchxrayvision_but_for_its_synonyms(padchest):
    peer = xrv.datasets.PC_Dataset(
        imgpath=tempfile.mkdtemp(), csvpath=str(PADCHEST_CSV), views=["*"], unique_patients=False
    )
    # It also drops patients under 10 or of unknown age and 21 unreadable images; it keeps
    # the rows whose labels say nothing (all negative there, left out here).
    assert len(peer) == 158_616
    ours = padchest.images.assign(ImageID=padchest.images.image.str.split("/").str[1])
    common = peer.csv.ImageID.isin(set(ours.ImageID)).to_numpy()
    left = padchest.excluded.set_index(padchest.excluded.image.str.split("/").str[1])
    assert left.loc[peer.csv.ImageID[~common]].reason.value_counts().to_dict() == {
        "labels say only 'unchanged'": 3_685, "labelled 'exclude'": 1_303,
        "no findings listed": 743,
    }  # fmt: skip
    ours = ours.set_index("ImageID").loc[peer.csv.ImageID[common]]
    labels = peer.csv.Labels[common].map(lambda s: {x.strip() for x in ast.literal_eval(s)})
    labels = labels.to_numpy()
    for finding in FINDINGS:
        theirs = peer.labels[common, peer.pathologies.index(finding)]
        mine = ours[finding].to_numpy()
        assert not ((theirs == 0) & (mine == 1)).any(), finding  # never positive only here
        only = np.flatnonzero((theirs == 1) & (mine == 0))
        count, because = PEER_ONLY.get(finding, (0, set()))
        assert len(only) == count, finding
        assert all(labels[i] & because for i in only), finding


def test_a_bad_label_or_a_missing_column_is_named(tmp_path):
    good = pd.read_csv(CHEXPERT_CSV, nrows=5).astype({"Cardiomegaly": object})
    good.loc[2, "Edema"] = 2.0
    good.loc[3, "Path"] = "CheXpert-v1.0/train/no-patient-here/view1_frontal.jpg"
    good.loc[0, "Cardiomegaly"], good.loc[1, "Cardiomegaly"] = -1.0, "x"  # text in the column
    good.to_csv(tmp_path / "train.csv", index=False)
    read = read_chexpert(tmp_path / "train.csv", frontal_only=False)
    assert len(read.images) == 2
    assert np.isnan(read.images.Cardiomegaly[0])  # uncertain: ignored, never -1
    assert dict(zip(read.excluded.source_row, read.excluded.reason, strict=True)) == {
        4: "no patient folder in Path",
        2: "Cardiomegaly is x, not 1, 0, -1 or blank",
        3: "Edema is 2.0, not 1, 0, -1 or blank",
    }
    good.drop(columns=["AP/PA"]).to_csv(tmp_path / "cut.csv", index=False)
    with pytest.raises(InputError, match=r"cut\.csv: lacks column\(s\) AP/PA"):
        read_chexpert(tmp_path / "cut.csv")


def test_the_format_registry_and_the_params_choices_agree():
    """A format is one registry entry, one reader with the registry's signature, and its
    name among ``external.sets[].format``'s choices: a half-added one fails here."""
    import inspect
    import typing

    from cxr.config import ExternalFormat
    from cxr.external.formats import FORMATS
    from cxr.external.sets import label_file

    assert set(typing.get_args(ExternalFormat)) == set(FORMATS)
    for name, form in FORMATS.items():
        assert len(inspect.signature(form.read).parameters) == 4, name
        assert form.reads_folder == (name == "mimic") and form.title and form.dataset
    with pytest.raises(InputError, match="expected one of"):
        label_file("dicomdir", Path("."))
