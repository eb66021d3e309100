"""Patient-level splits on the real NIH metadata: official lists and the stratified split."""

import numpy as np
import pandas as pd
import pytest

from cxr.findings import FINDINGS
from cxr.nih.split_lists import read_split_list
from cxr.splits import SplitError, assert_patient_disjoint, official_split, stratified_patient_split


def _official(nih_dir, frame, seed=0, train_val=None, test=None):
    return official_split(
        frame.image_id.to_numpy(),
        frame.patient_id.to_numpy(),
        frame[list(FINDINGS)].to_numpy(),
        train_val if train_val is not None else read_split_list(nih_dir / "train_val_list.txt"),
        test if test is not None else read_split_list(nih_dir / "test_list.txt"),
        0.1,
        seed,
    )


def test_official_lists_are_what_nih_published(nih_dir):
    tv, test = (
        read_split_list(nih_dir / "train_val_list.txt"),
        read_split_list(nih_dir / "test_list.txt"),
    )
    assert (len(tv), len(test)) == (86_524, 25_596)
    assert not set(tv) & set(test)


def test_official_split_counts_and_no_patient_overlap(nih_dir, nih_labels):
    f = nih_labels.frame
    split = _official(nih_dir, f)
    counts = pd.Series(split).value_counts().to_dict()
    assert counts["train"] + counts["val"] == 86_524
    assert counts["test"] == 25_596
    assert "" not in counts  # every image is in one of the lists
    assert_patient_disjoint(f.patient_id, split)
    patients = {s: set(f.patient_id[split == s]) for s in ("train", "val", "test")}
    assert len(patients["train"] | patients["val"]) == 28_008 and len(patients["test"]) == 2_797
    # Validation is carved out of train_val by patient, about 10% of its images.
    assert counts["val"] / 86_524 == pytest.approx(0.1, abs=0.01)
    assert not patients["val"] & patients["train"]


def test_official_split_is_reproducible_from_its_seed(nih_dir, nih_labels):
    f = nih_labels.frame
    a, b, c = _official(nih_dir, f, 0), _official(nih_dir, f, 0), _official(nih_dir, f, 1)
    assert (a == b).all() and (a != c).any()
    assert ((a == "test") == (c == "test")).all()  # the seed moves only validation


def test_leaking_user_lists_name_the_patients(nih_dir, nih_labels):
    f = nih_labels.frame
    tv = read_split_list(nih_dir / "train_val_list.txt")
    test = read_split_list(nih_dir / "test_list.txt")
    moved = [n for n in test if n.startswith("00000013_")][:2]  # two images of patient 13
    with pytest.raises(SplitError, match=r"leak patients: 1 patients.*: 13"):
        _official(nih_dir, f, train_val=tv + moved, test=[n for n in test if n not in moved])
    with pytest.raises(SplitError, match="in both split lists"):
        _official(nih_dir, f, train_val=tv + moved[:1], test=test)


def test_patient_split_on_nih_is_stratified_disjoint_and_reproducible(nih_labels):
    f = nih_labels.frame
    y = f[list(FINDINGS)].to_numpy()
    fractions = {"train": 0.7, "val": 0.1, "test": 0.2}
    a = stratified_patient_split(f.patient_id.to_numpy(), y, fractions, seed=7)
    b = stratified_patient_split(f.patient_id.to_numpy()[::-1], y[::-1], fractions, seed=7)[::-1]
    c = stratified_patient_split(f.patient_id.to_numpy(), y, fractions, seed=8)
    assert (a == b).all(), "the split must not depend on row order"
    assert (a != c).any()
    assert_patient_disjoint(f.patient_id, a)
    for name, share in fractions.items():
        part = a == name
        assert part.mean() == pytest.approx(share, abs=0.01)
        # Every class, Hernia (227 positives) included, within 2 points of its share.
        class_share = y[part].sum(axis=0) / y.sum(axis=0)
        np.testing.assert_allclose(class_share, share, atol=0.02)


def test_rare_class_lands_in_every_split():
    # 20 patients, only 3 with the rare class: each split must get one.
    patients = np.repeat(np.arange(20), 2)
    y = np.zeros((40, 2), dtype=np.uint8)
    y[[0, 1, 10, 30], 1] = 1  # patients 0, 5, 15
    y[::3, 0] = 1
    split = stratified_patient_split(patients, y, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=0)
    assert {split[i] for i in (0, 10, 30)} == {"train", "val", "test"}
    assert_patient_disjoint(patients, split)


def test_bad_fractions_are_rejected():
    with pytest.raises(SplitError, match="sum to 1"):
        stratified_patient_split(np.arange(3), np.zeros((3, 1)), {"train": 0.8, "test": 0.1}, 0)
