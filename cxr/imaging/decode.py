"""Decode PNG, JPEG and DICOM bytes to one 8-bit grayscale array, or say why not.

The format is recognised from the bytes, never from the file name, so a text
file named ``.png`` is rejected as what it is. Every failure is a
:class:`DecodeError` whose message is the reason recorded in the rejected list.

Bit depth: 8-bit data is kept as is (it is already display-ready). Data of more
than 8 bits (16-bit PNG, DICOM) carries no display window in a PNG, so it is
scaled linearly from its own minimum and maximum to 0..255; DICOM gets its
modality LUT and its VOI LUT or window first, and MONOCHROME1 is inverted so
that bone is always bright.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
_TAIL = 64  # bytes searched for an end marker (some writers pad after it)


class DecodeError(ValueError):
    """The bytes are not a usable image; ``str(err)`` is the reason."""


def sniff(data: bytes, name: str = "") -> str:
    """Return ``"png"``, ``"jpeg"`` or ``"dicom"`` from the leading bytes."""
    if len(data) == 0:
        raise DecodeError("empty file (0 bytes)")
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data[128:132] == b"DICM" or name.lower().endswith((".dcm", ".dicom")):
        return "dicom"
    raise DecodeError(f"not a PNG, JPEG or DICOM file (starts with {data[:8]!r})")


def decode_gray8(data: bytes, name: str = "") -> np.ndarray:
    """Decode image bytes to a 2-D ``uint8`` array (bright = dense)."""
    kind = sniff(data, name)
    if kind == "dicom":
        return _dicom_gray8(data)
    if kind == "png" and b"IEND" not in data[-_TAIL:]:
        raise DecodeError("truncated PNG (no IEND chunk at the end)")
    if kind == "jpeg" and b"\xff\xd9" not in data[-_TAIL:]:
        raise DecodeError("truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DecodeError(f"corrupt {kind.upper()} (the decoder could not read it)")
    return to_gray8(image)


def read_gray8(path: str | Path) -> np.ndarray:
    """Read and decode a file; an unreadable file is a :class:`DecodeError` too."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise DecodeError(f"cannot read file ({err.strerror or err})") from None
    return decode_gray8(data, str(path))


def to_gray8(image: np.ndarray) -> np.ndarray:
    """OpenCV-decoded array (gray, BGR or BGRA; 8 or 16 bit) to 2-D uint8 gray."""
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 1:
            image = image[:, :, 0]
        elif channels in (3, 4):
            # Alpha is ignored: NIH's 519 RGBA PNGs are opaque gray images.
            image = cv2.cvtColor(
                image, cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY
            )
        else:
            raise DecodeError(f"unsupported image with {channels} channels")
    elif image.ndim != 2:
        raise DecodeError(f"unsupported image of shape {image.shape}")
    if image.size == 0:
        raise DecodeError("image has no pixels")
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    return scale_to_uint8(image)


def scale_to_uint8(image: np.ndarray) -> np.ndarray:
    """Linear map of the image's own range to 0..255 (a constant image becomes 0)."""
    image = image.astype(np.float64, copy=False)
    lo, hi = float(np.min(image)), float(np.max(image))
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise DecodeError("image holds non-finite values")
    if hi <= lo:
        return np.zeros(image.shape, dtype=np.uint8)
    return np.rint((image - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _dicom_gray8(data: bytes) -> np.ndarray:
    import pydicom  # imported here: only DICOM inputs pay for it
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        pixels = ds.pixel_array
    except Exception as err:  # pydicom raises many types for broken or compressed data
        raise DecodeError(f"unreadable DICOM ({type(err).__name__}: {err})") from None
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        raise DecodeError(
            f"multi-frame DICOM ({ds.NumberOfFrames} frames); expected one radiograph"
        )
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        if pixels.ndim == 3 and pixels.shape[2] == 3:
            pixels = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
            return to_gray8(pixels)
        raise DecodeError(f"unsupported DICOM PhotometricInterpretation {photometric}")
    try:
        values = apply_voi_lut(apply_modality_lut(pixels, ds), ds)
    except Exception as err:  # a damaged RescaleSlope, WindowCenter, LUT, ... in the header
        raise DecodeError(
            f"DICOM rescale or window values unusable ({type(err).__name__}: {err})"
        ) from None
    gray = scale_to_uint8(np.asarray(values))
    if photometric == "MONOCHROME1":  # low values are bright: invert so bone is bright
        gray = 255 - gray
    return gray
