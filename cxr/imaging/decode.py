"""Decode PNG, JPEG and DICOM bytes to one 8-bit grayscale array, or say why not.

The format is recognised from the bytes, never from the file name, so a text
file named ``.png`` is rejected as what it is. Every failure is a
:class:`DecodeError` whose message is the reason recorded in the rejected list.

The same pixels give the same array whatever the container:

* 8-bit data is kept as is (it is already display-ready), in a PNG, a JPEG or
  a DICOM alike (RSNA's and SIIM's DICOMs are 8-bit copies of NIH's PNGs, and
  must reach the model as NIH's training PNGs did).
* Data of more than 8 bits without a display window (a 16-bit PNG, a DICOM
  without one) is scaled linearly from its own minimum and maximum to 0..255.
* A DICOM's modality LUT (rescale) applies first. Its VOI window or VOI LUT,
  where it has one, *is* the display mapping: the window's range maps to
  0..255 by the standard's formula (PS3.3 C.11.2.1.2: LINEAR, LINEAR_EXACT,
  SIGMOID), and nothing re-stretches the result afterwards.
* ``PixelPaddingValue`` (and ``PixelPaddingRangeLimit``) mark pixels outside
  the detector: they become 0 and never set the minimum or maximum.
* MONOCHROME1 is inverted so that bone is always bright.
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


def scale_to_uint8(image: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Linear map of the image's own range to 0..255 (a constant image becomes 0); ``use``:
    the pixels whose range counts (default all; the others are clipped to it)."""
    image = image.astype(np.float64, copy=False)
    values = image if use is None else image[use]
    if not values.size:
        return np.zeros(image.shape, dtype=np.uint8)
    lo, hi = float(np.min(values)), float(np.max(values))
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise DecodeError("image holds non-finite values")
    if hi <= lo:
        return np.zeros(image.shape, dtype=np.uint8)
    return np.rint(np.clip((image - lo) * (255.0 / (hi - lo)), 0, 255)).astype(np.uint8)


def window_to_uint8(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """A VOI window (DICOM PS3.3 C.11.2.1.2) mapped straight to 0..255.

    >>> window_to_uint8(np.array([799.0, 1000.0, 1201.0]), 1000, 400, "LINEAR").tolist()
    [0, 128, 255]
    """
    x = np.asarray(values, dtype=np.float64)
    function = (function or "LINEAR").upper()
    if function == "SIGMOID":
        y = 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    elif function == "LINEAR_EXACT":
        y = (x - center) / width + 0.5
    else:  # LINEAR, the default: the standard's half-pixel offsets
        y = (x - (center - 0.5)) / max(width - 1.0, 1e-12) + 0.5
    return np.rint(np.clip(y, 0.0, 1.0) * 255.0).astype(np.uint8)


def padding_mask(ds, pixels: np.ndarray) -> np.ndarray:
    """Pixels outside the detector: equal to ``PixelPaddingValue``, or within it and
    ``PixelPaddingRangeLimit`` (stored values, before any LUT)."""
    value = ds.get("PixelPaddingValue")
    if value is None:
        return np.zeros(pixels.shape, dtype=bool)
    limit = ds.get("PixelPaddingRangeLimit")
    if limit is None:
        return pixels == value
    return (pixels >= min(value, limit)) & (pixels <= max(value, limit))


def _first(value) -> float:
    """A DICOM number that may be multi-valued (several windows): the first."""
    from pydicom.multival import MultiValue

    return float(value[0] if isinstance(value, MultiValue) else value)


def _dicom_gray8(data: bytes) -> np.ndarray:
    import pydicom  # imported here: only DICOM inputs pay for it

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
        padding = padding_mask(ds, pixels)
        gray = _display(ds, pixels, padding)
    except DecodeError:
        raise
    except Exception as err:  # a damaged RescaleSlope, WindowCenter, LUT, ... in the header
        raise DecodeError(
            f"DICOM rescale, window or padding values unusable ({type(err).__name__}: {err})"
        ) from None
    if photometric == "MONOCHROME1":  # low values are bright: invert so bone is bright
        gray = 255 - gray
    gray[padding] = 0  # outside the detector: black, whatever the photometric
    return gray


def _display(ds, pixels: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """The DICOM's stored pixels as 8-bit display values (before MONOCHROME1's inversion):
    by its window or VOI LUT where it has one; kept as is where 8-bit and unrescaled (as
    a PNG of the same pixels); else stretched from the detector pixels' own range."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    rescaled = "ModalityLUTSequence" in ds or (
        float(ds.get("RescaleSlope", 1) or 1) != 1 or float(ds.get("RescaleIntercept", 0) or 0) != 0
    )
    values = apply_modality_lut(pixels, ds)
    if "VOILUTSequence" in ds:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        shown = np.asarray(apply_voi_lut(values, ds), dtype=np.float64)
        return np.rint(np.clip(shown / (2**bits - 1), 0, 1) * 255).astype(np.uint8)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        width = _first(ds.WindowWidth)
        if not width > 0:
            raise DecodeError(f"DICOM WindowWidth {width} is not positive")
        return window_to_uint8(values, _first(ds.WindowCenter), width,
                               str(ds.get("VOILUTFunction", "LINEAR")))  # fmt: skip
    if pixels.dtype == np.uint8 and not rescaled:
        return np.array(pixels, dtype=np.uint8)
    return scale_to_uint8(np.asarray(values), ~padding)
