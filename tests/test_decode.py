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
    pixels: np.ndarray,
    photometric="MONOCHROME2",
    window=None,
    slope=1.0,
    intercept=0.0,
    bits=12,
    padding=None,
    voi_function=None,
) -> bytes:
    """A minimal uncompressed single-frame DICOM radiograph of ``bits`` stored bits (8: one
    byte per pixel, as RSNA's and SIIM's)."""
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
    ds.BitsAllocated = 8 if bits == 8 else 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if (slope, intercept) != (1.0, 0.0) or bits != 8:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_function is not None:
        ds.VOILUTFunction = voi_function
    if padding is not None:
        ds.PixelPaddingValue = padding
    ds.PixelData = pixels.astype(np.uint8 if bits == 8 else np.uint16).tobytes()
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


def test_real_nih_films_give_the_same_array_from_a_png_and_an_8_bit_dicom(nih_dir):
    # RSNA's and SIIM's DICOMs are 8-bit copies of NIH's PNGs: they must reach the model
    # as the training PNGs did, not stretched to their own range.
    for path in sorted((nih_dir / "sample" / "images").glob("*.png"))[:5]:
        png = read_gray8(path)
        from_dicom = decode_gray8(dicom_bytes(png, bits=8), "x.dcm")
        assert from_dicom.dtype == np.uint8 and from_dicom.tobytes() == png.tobytes(), path.name


def test_the_same_pixels_give_the_same_array_in_a_png_and_a_dicom():
    narrow = (_gradient() // 4 + 60).astype(np.uint8)  # 60..123: a stretch would move it
    assert decode_gray8(dicom_bytes(narrow, bits=8)).tobytes() == narrow.tobytes()
    assert decode_gray8(_png(narrow)).tobytes() == narrow.tobytes()
    # More than 8 bits without a window: both stretched from the same range, alike.
    deep = _gradient().astype(np.uint16) * 9 + 300
    assert decode_gray8(dicom_bytes(deep)).tobytes() == decode_gray8(_png(deep)).tobytes()


def test_a_window_is_the_display_mapping_and_nothing_restretches_it():
    # Values 900..1100 inside the window 800..1200: the standard maps them to about a
    # quarter..three quarters of the range; a min-max stretch afterwards made them 0..255.
    g = np.tile(np.linspace(900, 1100, 64), (8, 1)).astype(np.uint16)
    gray = decode_gray8(dicom_bytes(g, window=(1000, 400)))
    expected = np.rint(np.clip((g - 999.5) / 399 + 0.5, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(gray, expected)
    assert 60 < gray.min() < 70 and 185 < gray.max() < 195
    exact = decode_gray8(dicom_bytes(g, window=(1000, 400), voi_function="LINEAR_EXACT"))
    linear = np.clip((g.astype(float) - 1000) / 400 + 0.5, 0, 1)
    np.testing.assert_array_equal(exact, np.rint(linear * 255).astype(np.uint8))


def test_sigmoid_windows_voi_luts_padding_ranges_and_bad_padding_tags():
    g = np.tile(np.linspace(0, 4000, 64), (8, 1)).astype(np.uint16)
    sigmoid = decode_gray8(dicom_bytes(g, window=(2000, 1000), voi_function="SIGMOID"))
    expected = 255 / (1 + np.exp(-4 * (g.astype(float) - 2000) / 1000))
    np.testing.assert_array_equal(sigmoid, np.rint(expected).astype(np.uint8))
    # A VOI LUT: its output range (here 10 bits) is the display range, not the image's own.
    ds = pydicom.dcmread(io.BytesIO(dicom_bytes(g)))
    item = pydicom.Dataset()
    item.add_new(0x00283002, "US", [4096, 0, 10])  # LUTDescriptor: entries, first, bits
    item.add_new(0x00283006, "US", [v // 8 for v in range(4096)])  # LUTData: 0..511 of 1023
    ds.VOILUTSequence = pydicom.Sequence([item])
    buf = io.BytesIO()
    ds.save_as(buf)
    lut = decode_gray8(buf.getvalue())
    np.testing.assert_array_equal(lut, np.rint((g // 8) / 1023 * 255).astype(np.uint8))
    assert lut.max() == 125  # 500 of 1023; a min-max stretch would have made it 255
    # Padding as a range of stored values (PixelPaddingRangeLimit).
    image = np.full((10, 20), 5, np.uint16)
    image[:, :5] = 0
    image[:, 10:] = np.linspace(1000, 3000, 10).astype(np.uint16)[None]
    ds = pydicom.dcmread(io.BytesIO(dicom_bytes(image, bits=16, padding=0)))
    ds.add_new(0x00280121, "US", 5)  # PixelPaddingRangeLimit
    buf = io.BytesIO()
    ds.save_as(buf)
    ranged = decode_gray8(buf.getvalue())
    assert (ranged[:, :10] == 0).all() and ranged[:, 10:].min() == 0
    assert ranged[:, 10:].max() == 255
    # A damaged padding tag (two values where one belongs) is a reason, not a crash.
    ds.add_new(0x00280121, "US", [5, 9])
    buf = io.BytesIO()
    ds.save_as(buf)
    with pytest.raises(DecodeError, match="padding"):
        decode_gray8(buf.getvalue())


def test_padding_pixels_are_black_and_never_set_the_range():
    image = np.full((20, 40), 65535, np.uint16)  # left half: outside the detector
    image[:, 20:] = np.linspace(1000, 3000, 20).astype(np.uint16)[None]
    for photometric in ("MONOCHROME2", "MONOCHROME1"):
        data = dicom_bytes(image, photometric, bits=16, padding=65535)
        gray = decode_gray8(data)
        assert (gray[:, :20] == 0).all(), photometric
        detector = gray[:, 20:] if photometric == "MONOCHROME2" else 255 - gray[:, 20:]
        assert detector.min() == 0 and detector.max() == 255, photometric
    # Without the padding tag the same file is dark: 65535 sets the maximum.
    assert decode_gray8(dicom_bytes(image, bits=16))[:, 20:].max() < 15


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
    with pytest.raises(DecodeError, match="rescale, window or padding values unusable"):
        decode_gray8(damaged, "x.dcm")
