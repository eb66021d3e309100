"""Run code on another CPU's kernels: numpy and OpenCV with their SIMD dispatch turned off.

Both libraries pick kernels at import time by what the CPU offers (AVX-512, AVX2, ...),
and the kernels may differ in the last bit of a float result. A machine without
AVX-512 therefore computes what this one computes with those kernels disabled
(``NPY_DISABLE_CPU_FEATURES``, ``OPENCV_CPU_DISABLE``; and OpenBLAS and OpenCV's IPP at
their SSE kernels): a test can compare both in one
run, as a stand-in for a fresh machine of another CPU model or a patch release that
rewrote a kernel.
"""

from __future__ import annotations

import os

import pytest


def baseline_kernels_env() -> dict[str, str]:
    """``os.environ`` plus the variables that restrict numpy and OpenCV to their baseline."""
    import cv2
    import numpy as np

    from cxr.environment import numpy_simd

    numpy_on = numpy_simd()
    # "SSE SSE2 SSE3 *SSE4.1 *AVX2 *AVX512-SKX?": * dispatched, ? not on this CPU.
    opencv_on = [
        t[1:] for t in cv2.getCPUFeaturesLine().split() if t.startswith("*") and "?" not in t
    ]
    if not numpy_on and not opencv_on:
        pytest.skip(f"this CPU runs only baseline kernels (numpy {np.__version__}, OpenCV)")
    return os.environ | {
        "NPY_DISABLE_CPU_FEATURES": " ".join(numpy_on),
        "OPENCV_CPU_DISABLE": ",".join(opencv_on),
        "OPENCV_IPP": "sse42",
        "OPENBLAS_CORETYPE": "Prescott",  # OpenBLAS's SSE3 kernels
    }
