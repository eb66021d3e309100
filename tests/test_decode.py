"""Decoding every supported format to 8-bit gray, and rejecting broken files with a reason."""

import io

import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from cxr.imaging.decode import DecodeError, decode_gray8, read_gray8


def _gradient(h=40, w=60):
    return (np.add.outer(np.arange(h) * 3, np.arange(w) * 2) % 256).astype(np.uint8)


def _png(array) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def dicom_bytes(
    pixels: np.ndarray, photometric="MONOCHROME2", window=None, slope=1.0, intercept=0.0
) -> bytes:
    """A minimal uncompressed single-frame DICOM radiograph."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
    )
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_real_nih_samples_decode_including_rgba_and_shrunk(nih_dir):
    paths = sorted((nih_dir / "sample" / "images").glob("*.png"))
    assert len(paths) == 77
    for path in paths:
        gray = read_gray8(path)
        pil = Image.open(path)
        assert gray.dtype == np.uint8 and gray.shape == (pil.height, pil.width)
        # Whatever the mode (L, RGB, RGBA), the gray values are the luminance PIL sees.
        ref = np.asarray(pil.convert("L"), dtype=np.int16)
        assert np.abs(gray.astype(np.int16) - ref).max() <= 1, path.name


def test_sixteen_bit_png_uses_its_full_range():
    g = _gradient()
    g[0, 0], g[0, 1] = 0, 255
    gray = decode_gray8(_png(g.astype(np.uint16) * 257))
    np.testing.assert_array_equal(gray, g)
    twelve_bit = decode_gray8(_png(g.astype(np.uint16) * 16))  # 12-bit detector data
    np.testing.assert_array_equal(twelve_bit, g)


def test_rgb_png_and_jpeg():
    g = _gradient()
    np.testing.assert_array_equal(decode_gray8(_png(np.dstack([g, g, g]))), g)
    _ok, jpg = cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, 98])
    assert np.abs(decode_gray8(jpg.tobytes()).astype(int) - g).mean() < 2


def test_dicom_monochrome2_and_monochrome1_are_bright_bone():
    g = _gradient().astype(np.uint16) * 16  # 12-bit
    g[0, 0], g[0, 1] = 0, 255 * 16
    mono2 = decode_gray8(dicom_bytes(g))
    mono1 = decode_gray8(dicom_bytes(4095 - g, "MONOCHROME1"))
    expected = np.rint(g / 16).astype(np.uint8)
    np.testing.assert_array_equal(mono2, expected)
    np.testing.assert_array_equal(mono1, mono2)


def test_dicom_window_is_applied():
    g = np.tile(np.linspace(0, 4000, 64), (8, 1)).astype(np.uint16)
    gray = decode_gray8(dicom_bytes(g, window=(1000, 400)))  # window 800..1200
    assert (gray[:, g[0] <= 790] == 0).all() and (gray[:, g[0] >= 1210] == 255).all()
    inside = (g[0] > 850) & (g[0] < 1150)
    assert np.all(np.diff(gray[0, inside].astype(int)) >= 0) and 0 < gray[0, inside].mean() < 255


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda png: b"", "empty file"),
        (lambda png: png[: len(png) // 2], "truncated PNG"),
        (lambda png: b"hello, I am not an image\n" * 10, "not a PNG, JPEG or DICOM"),
        (lambda png: png[:40] + b"\x00" * 200 + png[-12:], "corrupt PNG"),
    ],
)
def test_broken_files_are_rejected_with_reason(tmp_path, make, reason):
    path = tmp_path / "bad.png"
    path.write_bytes(make(_png(_gradient())))
    with pytest.raises(DecodeError, match=reason):
        read_gray8(path)


def test_truncated_jpeg_and_broken_dicom(tmp_path):
    _ok, jpg = cv2.imencode(".jpg", _gradient())
    with pytest.raises(DecodeError, match="truncated JPEG"):
        decode_gray8(jpg.tobytes()[:-200])
    with pytest.raises(DecodeError, match="unreadable DICOM"):
        decode_gray8(dicom_bytes(_gradient())[:300], "x.dcm")
    with pytest.raises(DecodeError, match="cannot read file"):
        read_gray8(tmp_path / "absent.png")


def test_dicom_with_a_damaged_rescale_slope_is_rejected_with_reason():
    """Found by tests/test_fuzz.py: a byte flipped inside RescaleSlope ('1.0' became
    '\\xce.0') made pydicom's modality LUT raise a numpy UFuncTypeError, not a DecodeError."""
    data = dicom_bytes(_gradient().astype(np.uint16) * 16, slope=1.5)
    at = data.index(b"1.5")
    damaged = data[:at] + b"\xce" + data[at + 1 :]
    with pytest.raises(DecodeError, match="rescale or window values unusable"):
        decode_gray8(damaged, "x.dcm")
