"""The readers of the external data sets with boxes (VinDr-CXR, RSNA Pneumonia, SIIM-ACR) on
their real label files in torchxrayvision's package data: exact counts of rows, images,
positives and boxes, labels compared image by image with torchxrayvision's dataset classes,
and SIIM's mask boxes checked against its own mask decoder."""

import tempfile

import numpy as np
import pandas as pd
import pytest

from cxr.external.rsna import read_rsna
from cxr.external.siim import read_siim, rle_box, rle_mask
from cxr.external.vindr import TO_NIH as VINDR
from cxr.external.vindr import read_vindr
from cxr.findings import FINDINGS
from tests.conftest import xrv_data_file

xrv = pytest.importorskip(
    "torchxrayvision", reason="torchxrayvision (a test dependency) ships the real label files"
)


def test_vindr_counts_and_torchxrayvision_agree():
    csv = xrv_data_file("vinbigdata-train.csv.gz")
    vindr = read_vindr(csv)
    assert len(pd.read_csv(csv)) == 67_914 and len(vindr.excluded) == 0
    assert len(vindr.images) == vindr.patients == 15_000  # no patient IDs: one per image
    assert vindr.scored == tuple(f for f in FINDINGS if f in VINDR)
    assert vindr.positives() == {
        "Atelectasis": 186, "Cardiomegaly": 2_300, "Effusion": 1_032, "Infiltration": 613,
        "Pneumothorax": 96, "Consolidation": 353, "Fibrosis": 1_617, "Pleural_Thickening": 1_981,
    }  # fmt: skip
    # Every radiologist's box of the eight findings, each inside its own image's labels.
    assert len(vindr.boxes) == 19_708 and set(vindr.boxes.reader) <= {f"R{i}" for i in range(1, 18)}
    labelled = vindr.images.set_index("image")
    for finding, boxes in vindr.boxes.groupby("finding"):
        assert (labelled.loc[boxes.image, finding] == 1).all(), finding
    assert ((vindr.boxes.x1 > vindr.boxes.x0) & (vindr.boxes.y1 > vindr.boxes.y0)).all()
    assert vindr.images[["Mass", "Nodule", "Pneumonia"]].isna().all().all()  # "Nodule/Mass"
    peer = xrv.datasets.VinDr_Dataset(imgpath=tempfile.mkdtemp(), csvpath=str(csv))
    ours = labelled.loc[peer.csv.image_id + ".dicom"]
    for finding in vindr.scored:
        name = {"Fibrosis": "Pulmonary Fibrosis"}.get(finding, finding)
        theirs = peer.labels[:, peer.pathologies.index(name)]
        assert (theirs == ours[finding].to_numpy()).all(), finding


def test_rsna_counts_and_torchxrayvision_agree():
    csv = xrv_data_file("kaggle_stage_2_train_labels.csv.zip")
    rsna = read_rsna(csv)
    assert len(pd.read_csv(csv)) == 30_227 and len(rsna.excluded) == 0
    assert len(rsna.images) == rsna.patients == 26_684
    assert rsna.scored == ("Pneumonia",) and rsna.positives() == {"Pneumonia": 6_012}
    assert len(rsna.boxes) == 9_555 and (rsna.boxes.x1 <= 1024).all()
    boxed = set(rsna.boxes.image)
    assert boxed == set(rsna.images.image[rsna.images.Pneumonia == 1])
    peer = xrv.datasets.RSNA_Pneumonia_Dataset(imgpath=tempfile.mkdtemp(), views=["*"])
    ours = rsna.images.set_index("patient_id").loc[peer.csv.patientId, "Pneumonia"]
    assert len(peer) == len(rsna.images)
    assert (peer.labels[:, peer.pathologies.index("Pneumonia")] == ours.to_numpy()).all()


def test_siim_counts_boxes_and_torchxrayvision_agree():
    csv = xrv_data_file("siim-pneumothorax-train-rle.csv.gz")
    siim = read_siim(csv)
    assert len(pd.read_csv(csv)) == 12_954 and len(siim.excluded) == 0
    assert len(siim.images) == siim.patients == 12_047
    assert siim.positives() == {"Pneumothorax": 2_669} and len(siim.boxes) == 3_576
    peer = xrv.datasets.SIIM_Pneumothorax_Dataset(imgpath=tempfile.mkdtemp())
    per_image = pd.Series(peer.labels[:, 0], index=peer.csv.ImageId).groupby(level=0).max()
    ours = siim.images.set_index(siim.images.image.str.removesuffix(".dcm")).Pneumothorax
    assert (per_image.loc[ours.index].to_numpy() == ours.to_numpy()).all()
    # The box of a one-mask image equals the box of torchxrayvision's decoded mask.
    masks = siim.boxes.groupby("image").size()
    for image in masks[masks == 1].index[:40]:
        (mask,) = peer.get_pathology_mask_dict(image.removesuffix(".dcm"), 1024).values()
        ys, xs = np.nonzero(mask[0])
        ours = siim.boxes.loc[siim.boxes.image == image, ["x0", "y0", "x1", "y1"]].iloc[0]
        assert tuple(ours) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), image
    # With several masks torchxrayvision keeps only the last (docs/external.md); cxr a box
    # per mask, whose union covers every mask's pixels.
    for image in masks[masks > 1].index[:10]:
        (mask,) = peer.get_pathology_mask_dict(image.removesuffix(".dcm"), 1024).values()
        codes = peer.csv.loc[peer.csv.ImageId == image.removesuffix(".dcm"), " EncodedPixels"]
        union = np.logical_or.reduce([rle_mask(c.strip()) for c in codes if c.strip() != "-1"])
        assert union.sum() > mask[0].sum() and len(siim.boxes[siim.boxes.image == image]) > 1


def test_rle_round_trip():
    mask = np.zeros((6, 5), bool)
    mask[1:4, 2] = mask[2, 3] = True  # a column run and a pixel in the next column
    flat = mask.T.reshape(-1)  # encoded column by column
    starts = np.flatnonzero(np.diff(np.r_[0, flat.astype(int)]) == 1)
    ends = np.flatnonzero(np.diff(np.r_[flat.astype(int), 0]) == -1) + 1
    previous = np.r_[0, ends[:-1]]
    code = " ".join(f"{s - p} {e - s}" for s, e, p in zip(starts, ends, previous, strict=True))
    assert (rle_mask(code, width=5, height=6) == mask).all()
    assert rle_box(code, width=5, height=6) == (2, 1, 4, 4)
    with pytest.raises(ValueError, match="empty mask"):
        rle_box("", width=5, height=6)


def test_a_blank_siim_cell_is_no_label(tmp_path):
    (tmp_path / "train-rle.csv").write_text("ImageId, EncodedPixels\na,-1\nb,\nc,5 3\n")
    read = read_siim(tmp_path / "train-rle.csv")
    assert read.images.image.tolist() == ["a.dcm", "c.dcm"]
    assert read.images.Pneumothorax.tolist() == [0.0, 1.0]
    assert read.exclusions() == {"EncodedPixels is blank (neither -1 nor a mask)": 1}
