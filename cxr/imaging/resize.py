"""Fit an image into a square array (aspect kept by padding, or stretched), and CLAHE."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from cxr.imaging.geometry import Geometry

#: Long side, in pixels, at which CLAHE runs when the output is smaller. OpenCV clips each
#: tile's histogram at max(int(clip * tile_pixels / 256), 1): 8x8 tiles of a 64-px image
#: hold 64 pixels, so every clip below 8 gives the same bytes. At 256 px a tile holds
#: 1,024 pixels and the clip limit moves in steps of 0.25.
CLAHE_MIN_SIDE = 256


def content_size(height: int, width: int, size: int, keep_aspect: bool) -> tuple[int, int]:
    """Width and height of the image inside a ``size`` square (aspect kept, or stretched)."""
    if not keep_aspect:
        return size, size
    s = size / max(height, width)
    return max(1, round(width * s)), max(1, round(height * s))


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a uint8 image: area interpolation when shrinking (no aliasing), bilinear when
    enlarging.

    A large shrink first takes OpenCV's integer-factor area path (1024 -> 256
    averages 4x4 blocks), then area-resizes the rest of the way: three times
    faster than one non-integer area resize (0.7 against 2.1 ms for 1024 ->
    224) with the same anti-aliasing.
    """
    h, w = image.shape
    if (w, h) == (width, height):
        return image
    shrinking = width * height < w * h
    if shrinking:
        k = min(w // width, h // height)
        if k >= 2 and w % k == 0 and h % k == 0:
            image = cv2.resize(image, (w // k, h // k), interpolation=cv2.INTER_AREA)
            if image.shape == (height, width):
                return image
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def fit_square(
    image: np.ndarray,
    size: int,
    keep_aspect: bool = True,
    enhance: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, Geometry]:
    """Resize a 2-D uint8 image into ``size x size``, optionally enhancing it on the way.

    With ``keep_aspect`` the image is scaled to fit and centred on black; NIH's
    square images are simply resized. ``enhance`` (e.g. :func:`clahe`) sees the
    image without padding, at a long side of at least :data:`CLAHE_MIN_SIDE`,
    so the padding stays exactly zero and the enhancement does not depend on
    ``size`` below that. Returns the array and the geometry that maps source
    pixels to array pixels (the same with or without ``enhance``).
    """
    (out,), geometry = fit_squares(image, (size,), keep_aspect, enhance)
    return out, geometry


def fit_squares(
    image: np.ndarray,
    sizes: tuple[int, ...],
    keep_aspect: bool = True,
    enhance: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[list[np.ndarray], Geometry]:
    """:func:`fit_square` at several sides from one decode and one enhancement, each a
    multiple ``k`` of the first: the image's box and padding in the array of side
    ``k * sizes[0]`` are exactly ``k`` times those of the first, so a box maps between
    them by ``k`` alone. Returns the arrays and the geometry of the first.

    Enhancement runs once, at a long side of ``max(max(sizes), CLAHE_MIN_SIDE)``,
    so every array shows the same contrast.
    """
    size = sizes[0]
    if any(s % size for s in sizes):
        raise ValueError(f"sizes {sizes}: each must be a multiple of the first")
    h, w = image.shape
    new_w, new_h = content_size(h, w, size, keep_aspect)
    if enhance is not None:
        work_w, work_h = content_size(h, w, max(*sizes, CLAHE_MIN_SIDE), keep_aspect)
        image = enhance(resize_to(image, work_w, work_h))
    off_x, off_y = (size - new_w) // 2, (size - new_h) // 2
    arrays = []
    for side in sizes:
        k = side // size
        resized = resize_to(image, new_w * k, new_h * k)
        if (new_w, new_h) == (size, size):
            out = resized
        else:
            out = np.zeros((side, side), dtype=np.uint8)
            out[off_y * k : (off_y + new_h) * k, off_x * k : (off_x + new_w) * k] = resized
        arrays.append(np.ascontiguousarray(out))
    geometry = Geometry(
        width=w, height=h, scale_x=new_w / w, scale_y=new_h / h, offset_x=off_x, offset_y=off_y
    )
    return arrays, geometry


def clahe(image: np.ndarray, clip_limit: float, grid: int) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (OpenCV) on a uint8 image."""
    return cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(grid, grid)).apply(image)
