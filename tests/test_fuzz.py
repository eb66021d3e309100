"""Property-based bad input: the label-file reader and the image decoder either succeed with
every row accounted for or raise their own clear error; never another exception, a silent
drop or a hang (docs/reliability.md lists what is tried)."""

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cxr.imaging.decode import DecodeError, decode_gray8
from cxr.nih.label_file import LabelFileError, read_label_file
from tests.test_decode import dicom_bytes
from tests.test_label_file import GOOD, HEADER

FIELDS = GOOD.split(",")
SETTINGS = settings(
    max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _row(i: int) -> list[str]:
    row = list(FIELDS)
    row[0] = f"{i:08d}_000.png"
    row[3] = str(i)
    return row


field_values = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "NaN",
            "-1",
            "0",
            "1e9",
            "057Y",
            "12M",
            "3D",
            "abc",
            "Mass|Mass",
            "No Finding|Mass",
            "Infiltrate",
            "PA ",
            "m",
            "ü",
            '"',
            "1,2",
        ]
    ),
    st.text(max_size=8),
)


@st.composite
def damaged_files(draw):
    """A valid 2020-format file of 2-6 rows with one kind of damage applied."""
    rows = [_row(i) for i in range(1, draw(st.integers(2, 6)) + 1)]
    kind = draw(
        st.sampled_from(
            ["field", "drop_column", "extra_column", "duplicate", "truncate", "encoding", "header"]
        )
    )
    r = draw(st.integers(0, len(rows) - 1))
    if kind == "field":
        rows[r][draw(st.integers(0, len(FIELDS) - 1))] = draw(field_values)
    elif kind == "drop_column":
        del rows[r][draw(st.integers(0, len(FIELDS) - 1))]
    elif kind == "extra_column":
        rows[r].append(draw(field_values))
    elif kind == "duplicate":
        rows.append(list(rows[r]))
    text = HEADER + "\n" + "\n".join(",".join(row) for row in rows) + "\n"
    data = text.encode("utf-8")
    if kind == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif kind == "encoding":
        data = text.encode(draw(st.sampled_from(["utf-16", "latin-1", "cp1252"]))) + b"\xff\xfe"
    elif kind == "header":
        data = text.replace("Patient Age", draw(st.sampled_from(["Age", "", "patient age"])), 1)
        data = data.encode("utf-8")
    return data


@SETTINGS
@given(data=damaged_files())
def test_label_file_damage_is_an_error_or_every_row_is_kept(tmp_path, data):
    path = tmp_path / "Data_Entry_2017_v2020.csv"
    path.write_bytes(data)
    try:
        table = read_label_file(path)
    except LabelFileError as err:
        event("clear error")
        assert str(path) in str(err)  # the message names the file
        return
    event("parsed")
    # Rows end at "\n" only: str.splitlines() would also split at \x1c-\x1e, \x85 and the like.
    body = data.decode("utf-8").split("\n", 1)[1]
    lines = [line for line in body.split("\n") if line.strip()]
    assert len(table.frame) == len(lines)  # nothing silently dropped


def _sources() -> dict[str, bytes]:
    """One valid file per format, made once: a DICOM carries random UIDs, and hypothesis
    needs every draw to see the same bytes."""
    image = (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8)
    return {
        "png": cv2.imencode(".png", image)[1].tobytes(),
        "jpeg": cv2.imencode(".jpg", image)[1].tobytes(),
        "dicom": dicom_bytes(image.astype(np.uint16) * 16),
    }


SOURCES = _sources()
for _data in SOURCES.values():  # imports (pydicom) happen here, not inside a timed example
    decode_gray8(_data, "warm-up")


@st.composite
def damaged_images(draw):
    source = draw(st.sampled_from(["png", "jpeg", "dicom", "random"]))
    if source == "random":
        return draw(st.binary(max_size=512))
    data = SOURCES[source]
    how = draw(st.sampled_from(["truncate", "flip", "splice"]))
    cut = draw(st.integers(0, len(data) - 1))
    if how == "truncate":
        return data[:cut]
    if how == "flip":
        return data[:cut] + bytes([data[cut] ^ 0xFF]) + data[cut + 1 :]
    return data[:cut] + draw(st.binary(min_size=1, max_size=64)) + data[cut:]


@SETTINGS
@given(data=damaged_images())
def test_image_damage_is_a_decode_error_or_a_valid_image(data):
    try:
        gray = decode_gray8(data, "fuzzed")
    except DecodeError as err:
        event("decode error")
        assert str(err)  # a reason, for the rejected list
        return
    event("decoded")
    assert gray.dtype == np.uint8 and gray.ndim == 2 and min(gray.shape) > 0


@pytest.mark.parametrize("data", [b"", b"\x89", b"\x89PNG\r\n\x1a\n", b"DICM"])
def test_the_smallest_inputs_get_a_reason(data):
    with pytest.raises(DecodeError, match=r"\w"):
        decode_gray8(data, "tiny")
