"""Cap the SIMD level that numpy, PyTorch and OpenCV pick their kernels at, so that a CPU
run gives the same bits on a machine with AVX-512 as on one with only AVX2.

Each library chooses kernels when it starts, by what the CPU offers, and the AVX-512
and AVX2 kernels round differently in the last bit. Training amplifies that: one epoch
of the demo's dual path ended at validation mean AUROC 0.774 with AVX-512 kernels and
0.759 with AVX2 ones, on the same machine and data (docs/environment.md). With every
library capped at AVX2, this AVX-512 machine reproduced an AVX2 machine's committed
training run to the last digit.

The caps are environment variables the libraries read once, so :func:`cap_cpu_kernels`
must run before numpy, torch or cv2 is imported: ``stages/__init__.py`` calls it, so
every stage command and ``cxr`` gets it first. This module imports nothing heavy.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import MutableMapping

#: ``CXR_CPU_KERNELS`` values -> the variables that impose them on an x86-64 CPU.
LEVELS: dict[str, dict[str, str]] = {
    "avx2": {
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy >= 2.0 names
        "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own kernels
        "ONEDNN_MAX_CPU_ISA": "AVX2",  # PyTorch's convolutions (oneDNN)
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # PyTorch's matrix products (MKL)
        "OPENCV_CPU_DISABLE": "AVX512-SKX",  # OpenCV 5 names
    },
    "native": {},  # whatever this CPU has: faster on AVX-512, other bits
}
DEFAULT = "avx2"
VARIABLE = "CXR_CPU_KERNELS"
_LIBRARIES = ("numpy", "torch", "cv2")


def cap_cpu_kernels(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Apply ``$CXR_CPU_KERNELS`` (default ``avx2``) to ``environ``; return what it set.

    A variable the user already set wins. Not x86-64, or a library already imported
    (too late to cap it): nothing is set.
    """
    level = environ.get(VARIABLE, DEFAULT)
    if level not in LEVELS:
        raise SystemExit(f"error: {VARIABLE}={level!r}; use one of {sorted(LEVELS)}")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    if environ is os.environ and any(name in sys.modules for name in _LIBRARIES):
        return {}
    applied = {}
    for name, value in LEVELS[level].items():
        if name not in environ:
            environ[name] = applied[name] = value
    return applied
