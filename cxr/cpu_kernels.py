"""Cap the SIMD level that numpy, PyTorch and OpenCV pick their kernels at, so that a CPU
run gives the same bits on a machine with AVX-512 as on one with only AVX2.

Each library chooses kernels when it starts, by what the CPU offers, and the AVX-512
and AVX2 kernels round differently in the last bit. Training amplifies that: one epoch
of the demo's dual path ended at validation mean AUROC 0.774 with AVX-512 kernels and
0.759 with AVX2 ones, on the same machine and data (docs/environment.md). With every
cap on, this AVX-512 machine reproduced an AVX2 machine's fp32 training run to the last
digit.

What is capped: numpy's SIMD loops and its OpenBLAS and OpenCV's SIMD loops and its IPP
(:data:`DATA_CAPS`), so that demo, ingest and preprocess write the same bytes on any
AVX2 machine; and PyTorch's own kernels (ATen), convolutions (oneDNN) and matrix products
(MKL) (:data:`TORCH_CAPS`), except on a CPU with native bf16, where the default
``model.precision: auto`` trains in bf16 and needs PyTorch's native kernels. A bf16 run
reproduces itself bit for bit on its machine, not on an AVX2 one; ``CXR_CPU_KERNELS=avx2``
with ``model.precision: fp32`` gives the machine-independent fp32 bits.

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


#: Caps that keep the data stages' bytes (numpy, its OpenBLAS, OpenCV) the same on any
#: x86-64 machine with AVX2.
DATA_CAPS: dict[str, str] = {
    "NPY_DISABLE_CPU_FEATURES": _numpy_names(),  # the installed numpy's names
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's OpenBLAS: its AVX2 kernels
    "OPENCV_CPU_DISABLE": "AVX512-SKX",  # OpenCV 5's name for its AVX-512 loops
    "OPENCV_IPP": "avx2",  # OpenCV's Intel IPP calls (resize, ...)
}
#: Caps on PyTorch's kernels: its own (ATen), its convolutions (oneDNN), its matrix
#: products (MKL). They also take away native bf16: under them a bf16 DenseNet121 step
#: ran 8x slower than fp32 on this project's AVX512-BF16 build machine (docs/performance.md).
TORCH_CAPS: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}
#: CPU flags of native bf16 arithmetic (Zen 4's AVX512-BF16, Intel's AMX): where one is
#: present, ``model.precision: auto`` trains and predicts in bf16 autocast.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

#: ``CXR_CPU_KERNELS`` values -> the variables that impose them on an x86-64 CPU; ``auto``
#: depends on the CPU (:func:`caps`).
LEVELS: dict[str, dict[str, str]] = {
    "avx2": {**DATA_CAPS, **TORCH_CAPS},  # every library: fp32 training bits as on any AVX2 CPU
    "data": DATA_CAPS,  # the data libraries only: PyTorch at whatever this CPU has
    "native": {},  # whatever this CPU has everywhere: other data bits on AVX-512
}
DEFAULT = "auto"
VARIABLE = "CXR_CPU_KERNELS"
_LIBRARIES = ("numpy", "torch", "cv2")


def caps(level: str, flags: set[str]) -> dict[str, str]:
    """The variables ``level`` sets on a CPU with ``flags``. ``auto``: the data libraries
    always capped; PyTorch capped too, except on a CPU with native bf16, whose kernels the
    bf16 precision needs (``data`` there, ``avx2`` elsewhere)."""
    if level == "auto":
        level = "data" if flags & BF16_FLAGS else "avx2"
    if level not in LEVELS:
        raise SystemExit(f"error: {VARIABLE}={level!r}; use one of {sorted([*LEVELS, 'auto'])}")
    return LEVELS[level]


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
    """Apply ``$CXR_CPU_KERNELS`` (default ``auto``) to ``environ``; return what it set.

    A variable the user already set wins. Nothing is set on a CPU that is not x86-64
    or lacks AVX2 and FMA (``flags``, default: this CPU's), where PyTorch's AVX2 kernels
    would not run, and nothing once a capped library is imported (too late).
    """
    flags = cpu_flags() if flags is None else flags
    wanted = caps(environ.get(VARIABLE, DEFAULT), flags)
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    if not {"avx2", "fma"} <= flags:
        return {}
    if environ is os.environ and any(name in sys.modules for name in _LIBRARIES):
        return {}
    applied = {}
    for name, value in wanted.items():
        if name not in environ:
            environ[name] = applied[name] = value
    return applied
