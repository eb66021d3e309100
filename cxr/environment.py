"""The machine and library versions a model was made with, and how today's differ.

Every trained model carries :func:`describe` (in ``best.pt``, ``metrics/env.json``
and the model card), so a number can be traced to the software and hardware that
made it. :func:`output_changing_differences` compares a model's record with the
running process: ``cxr predict`` and ``cxr serve`` warn when a library that can
change outputs for the same input differs.
"""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import torch

from cxr.cpu_kernels import cpuinfo

#: Recorded versions, by the name people know the package by -> distributions providing it.
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "numpy": ("numpy",),
    "opencv": (
        "opencv-python-headless",
        "opencv-python",
        "opencv-contrib-python-headless",
        "opencv-contrib-python",
    ),
    "pillow": ("pillow",),
    "pandas": ("pandas",),
    "scikit-learn": ("scikit-learn",),
    "grad-cam": ("grad-cam",),
    "timm": ("timm",),
    "dvc": ("dvc",),
}
#: Libraries whose kernels turn the same file into the model's outputs: a different
#: release can move a probability (torch's and torchvision's convolutions and resizing,
#: OpenCV's decoding, resizing and CLAHE, numpy's arithmetic).
OUTPUT_CHANGING = ("torch", "torchvision", "opencv", "numpy")


def package_version(name: str) -> str | None:
    """Installed version of a :data:`PACKAGES` entry, or None when it is not installed."""
    for dist in PACKAGES[name]:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux), else what ``platform`` says."""
    return cpuinfo("model name", "Model", "Hardware") or platform.processor() or platform.machine()


def numpy_simd() -> list[str]:
    """The SIMD targets numpy dispatches to here (after ``NPY_DISABLE_CPU_FEATURES``)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    return [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]


def describe(device: torch.device | None = None) -> dict[str, Any]:
    """This process's environment, as JSON-ready built-in types.

    ``torch_cpu_capability`` is the SIMD level ATen dispatches to (AVX512, AVX2, ...),
    ``numpy_simd`` numpy's, and ``torch_threads`` torch's intra-op threads: with the
    versions, they decide the bits of a CPU run (``cxr/cpu_kernels.py``). ``cuda`` is
    the CUDA version torch was built with; ``gpu`` the name of ``device`` when it is a
    CUDA device.
    """
    on_gpu = device is not None and device.type == "cuda"
    return {
        "device": str(device) if device is not None else None,
        "python": platform.python_version(),
        "os": platform.platform(),
        "cpu": cpu_model(),
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "numpy_simd": numpy_simd(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if on_gpu else None,
        "gpu": torch.cuda.get_device_name(device) if on_gpu else None,
        "packages": {name: package_version(name) for name in PACKAGES},
    }


def output_changing_differences(recorded: dict[str, Any] | None) -> list[str]:
    """One sentence per :data:`OUTPUT_CHANGING` library whose version here differs from a
    model's ``recorded`` environment (empty when they agree, or nothing was recorded).

    >>> output_changing_differences({"packages": {"torch": "0.1.0"}})  # doctest: +ELLIPSIS
    ['torch 0.1.0 made this model; this machine has torch ..., which can change its outputs']
    """
    if not recorded:
        return []
    made_with = recorded.get("packages", {})
    out = []
    for name in OUTPUT_CHANGING:
        then, now = made_with.get(name), package_version(name)
        if then is not None and then != now:
            out.append(
                f"{name} {then} made this model; this machine has {name} {now or 'missing'}, "
                "which can change its outputs"
            )
    return out
