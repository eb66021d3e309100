"""The label-file reader on the real NIH file, a 2017-format copy of it, and broken files."""

import gzip

import numpy as np
import pytest

from cxr.findings import FINDINGS
from cxr.nih.label_file import LabelFileError, find_label_file, read_label_file

NIH_POSITIVES = {
    "Infiltration": 19894,
    "Effusion": 13317,
    "Atelectasis": 11559,
    "Nodule": 6331,
    "Mass": 5782,
    "Pneumothorax": 5302,
    "Consolidation": 4667,
    "Pleural_Thickening": 3385,
    "Cardiomegaly": 2776,
    "Emphysema": 2516,
    "Edema": 2303,
    "Fibrosis": 1686,
    "Pneumonia": 1431,
    "Hernia": 227,
}


def test_v2020_counts_match_nih(nih_labels):
    f = nih_labels.frame
    assert nih_labels.variant == "v2020"
    assert len(f) == 112_120
    assert f.patient_id.nunique() == 30_805
    assert {k: int(f[k].sum()) for k in FINDINGS} == NIH_POSITIVES
    assert int((f[list(FINDINGS)].sum(axis=1) == 0).sum()) == 60_361
    assert f.view.value_counts().to_dict() == {"PA": 67_310, "AP": 44_810}
    assert f.image_id.is_unique


def test_v2020_split_header_columns_are_parsed(nih_labels):
    first = nih_labels.frame.iloc[0]
    assert first.image_id == "00000001_000.png"
    assert (first.orig_width, first.orig_height) == (2682, 2749)
    assert first.spacing_x == pytest.approx(0.143)
    assert first.age == 57 and first.sex == "M" and first.view == "PA"


def _as_2017(nih_dir, tmp_path, gz: bool):
    """The original 2017 format built from the real file: 12 fields, ages 058Y/011M/005D."""
    lines = (
        gzip.decompress((nih_dir / "Data_Entry_2017_v2020.csv.gz").read_bytes())
        .decode()
        .splitlines()
    )
    out = [lines[0] + ","]
    for i, line in enumerate(lines[1:]):
        cells = line.split(",")
        age = int(cells[4])
        if i % 1000 == 1:
            cells[4] = f"{age * 12:03d}M"
        elif i % 1000 == 2:
            cells[4] = f"{round(age * 365.25):03d}D" if age * 365.25 < 1000 else f"{age:03d}Y"
        else:
            cells[4] = f"{age:03d}Y"
        out.append(",".join(cells) + ",")
    data = ("\n".join(out) + "\n").encode()
    path = tmp_path / ("Data_Entry_2017.csv.gz" if gz else "Data_Entry_2017.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_2017_format_gives_the_same_labels(nih_dir, nih_labels, tmp_path, gz):
    table = read_label_file(_as_2017(nih_dir, tmp_path, gz))
    assert table.variant == "2017"
    ref = nih_labels.frame
    assert table.frame.image_id.tolist() == ref.image_id.tolist()
    np.testing.assert_array_equal(
        table.frame[list(FINDINGS)].to_numpy(), ref[list(FINDINGS)].to_numpy()
    )
    # Months and days are converted to years.
    np.testing.assert_allclose(table.frame.age.to_numpy(), ref.age.to_numpy(), atol=0.01)


def test_plain_and_gzip_share_the_content_hash(nih_dir, tmp_path):
    plain = tmp_path / "Data_Entry_2017_v2020.csv"
    plain.write_bytes(gzip.decompress((nih_dir / "Data_Entry_2017_v2020.csv.gz").read_bytes()))
    a, b = read_label_file(plain), read_label_file(nih_dir / "Data_Entry_2017_v2020.csv.gz")
    assert a.content_sha256 == b.content_sha256 and a.sha256 != b.sha256


def test_v2020_preferred_when_both_present(tmp_path):
    for name in ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv.gz"):
        (tmp_path / name).write_text("x")
    assert find_label_file(tmp_path).name == "Data_Entry_2017_v2020.csv.gz"


HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)
GOOD = "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.143,0.143"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "00000002_000.png,Pneumonitis,0,2,57,M,PA,2682,2749,0.143,0.143",
            r"line 3: image '00000002_000.png'.*Pneumonitis",
        ),
        ("00000002_000.png,Mass,0,2,5x7,M,PA,2682,2749,0.143,0.143", r"Patient Age.*line 3.*'5x7'"),
        ("00000002_000.png,Mass,0,2,57,X,PA,2682,2749,0.143,0.143", r"Patient Gender.*line 3"),
        ("00000002_000.png,Mass,0,2,57,M,LL,2682,2749,0.143,0.143", r"View Position.*line 3"),
        ("00000002_000.png,Mass,0,-2,57,M,PA,2682,2749,0.143,0.143", r"Patient ID.*line 3"),
        ("00000002_000.png,Mass,0,2,57,M,PA,2682,2749,0.143", r"PixelSpacing y.*line 3"),
        (
            "00000001_000.png,Mass,1,1,58,M,PA,2682,2749,0.143,0.143",
            r"'00000001_000.png' appears more than once \(lines 2, 3\)",
        ),
    ],
)
def test_bad_rows_name_the_line(tmp_path, row, message):
    path = tmp_path / "Data_Entry_2017_v2020.csv"
    path.write_text(f"{HEADER}\n{GOOD}\n{row}\n")
    with pytest.raises(LabelFileError, match=message):
        read_label_file(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "header"),
        (HEADER.encode() + b"\n", "no data rows"),
        (b"image,label\nx.png,Mass\n", "not the NIH Data_Entry header"),
        (HEADER.encode("utf-16") + b"\n", "not UTF-8"),
        (b"\x1f\x8b\x08\x00broken", "broken gzip"),
    ],
)
def test_unusable_files_are_errors(tmp_path, content, message):
    path = tmp_path / "Data_Entry_2017_v2020.csv"
    path.write_bytes(content)
    with pytest.raises(LabelFileError, match=message):
        read_label_file(path)
