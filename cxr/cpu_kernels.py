"""Cap the SIMD level that numpy, PyTorch and OpenCV pick their kernels at, so that a CPU
run gives the same bits on a machine with AVX-512 as on one with only AVX2.

Each library chooses kernels when it starts, by what the CPU offers, and the AVX-512
and AVX2 kernels round differently in the last bit. Training amplifies that: one epoch
of the demo's dual path ended at validation mean AUROC 0.774 with AVX-512 kernels and
0.759 with AVX2 ones, on the same machine and data (docs/environment.md). With the
caps below, this AVX-512 machine reproduced an AVX2 machine's committed training run
to the last digit.

What is capped: PyTorch's own kernels (ATen), its convolutions (oneDNN) and matrix
products (MKL); numpy's SIMD loops and its OpenBLAS; OpenCV's SIMD loops and its IPP.
The caps are environment variables the libraries read once, so
:func:`cap_cpu_kernels` must run before numpy, torch or cv2 is imported:
``stages/__init__.py`` calls it, so every stage command and ``cxr`` gets it first. A
process that imported one of them earlier (the test suite, which imports numpy before
``stages``) stays uncapped, and so do its children. This module imports nothing heavy.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import MutableMapping
from importlib.metadata import PackageNotFoundError, version

#: numpy's names for its AVX-512 dispatch targets: X86_V4 and friends since 2.4.
_NUMPY_AVX512 = {
    "new": "X86_V4 AVX512_ICL AVX512_SPR",
    "old": "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL",
}


def _numpy_names() -> str:
    try:
        major, minor = (int(p) for p in version("numpy").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return _NUMPY_AVX512["new"]
    return _NUMPY_AVX512["new" if (major, minor) >= (2, 4) else "old"]


#: ``CXR_CPU_KERNELS`` values -> the variables that impose them on an x86-64 CPU.
LEVELS: dict[str, dict[str, str]] = {
    "avx2": {
        "NPY_DISABLE_CPU_FEATURES": _numpy_names(),  # the installed numpy's names
        "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's OpenBLAS: its AVX2 kernels
        "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own kernels
        "ONEDNN_MAX_CPU_ISA": "AVX2",  # PyTorch's convolutions (oneDNN)
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # PyTorch's matrix products (MKL)
        "OPENCV_CPU_DISABLE": "AVX512-SKX",  # OpenCV 5's name for its AVX-512 loops
        "OPENCV_IPP": "avx2",  # OpenCV's Intel IPP calls (resize, ...)
    },
    "native": {},  # whatever this CPU has: faster on AVX-512, other bits
}
DEFAULT = "avx2"
VARIABLE = "CXR_CPU_KERNELS"
_LIBRARIES = ("numpy", "torch", "cv2")


def cpuinfo(*keys: str) -> str | None:
    """The first ``/proc/cpuinfo`` value under one of ``keys`` (None where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith(keys):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """The CPU's feature flags (empty where ``/proc/cpuinfo`` has none)."""
    return set((cpuinfo("flags") or "").split())


def cap_cpu_kernels(
    environ: MutableMapping[str, str] = os.environ, flags: set[str] | None = None
) -> dict[str, str]:
    """Apply ``$CXR_CPU_KERNELS`` (default ``avx2``) to ``environ``; return what it set.

    A variable the user already set wins. Nothing is set on a CPU that is not x86-64
    or lacks AVX2 and FMA (``flags``, default: this CPU's), where PyTorch's AVX2 kernels
    would not run, and nothing once a capped library is imported (too late).
    """
    level = environ.get(VARIABLE, DEFAULT)
    if level not in LEVELS:
        raise SystemExit(f"error: {VARIABLE}={level!r}; use one of {sorted(LEVELS)}")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    if not {"avx2", "fma"} <= (cpu_flags() if flags is None else flags):
        return {}
    if environ is os.environ and any(name in sys.modules for name in _LIBRARIES):
        return {}
    applied = {}
    for name, value in LEVELS[level].items():
        if name not in environ:
            environ[name] = applied[name] = value
    return applied
