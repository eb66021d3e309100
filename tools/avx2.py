"""Run a command as it runs on an AVX2-only CPU (no AVX-512, no native bf16), here.

Sets every cap of ``CXR_CPU_KERNELS=avx2`` (``cxr.cpu_kernels.LEVELS["avx2"]``) in the
environment *before* the command starts, so the command's own process gets AVX2 kernels
too (``stages/__init__.py`` cannot cap a process that imported numpy or torch first, as
pytest does), and oneDNN's cap makes ``model.precision: auto`` fall back to fp32, as on
such a CPU. What it cannot imitate: the other machine's clock and caches.

Usage: ``python -m tools.avx2 pytest`` (the test suite as an AVX2 machine runs it),
``python -m tools.avx2 dvc repro``.
"""

from __future__ import annotations

import os
import sys

from cxr.cpu_kernels import LEVELS, VARIABLE


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m tools.avx2 COMMAND [ARGS...]")
    os.environ.update({**LEVELS["avx2"], VARIABLE: "avx2"})
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
