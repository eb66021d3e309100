"""DVC stage commands: each reads params.yaml, calls the cxr library, writes the outputs.

Importing this package first caps the CPU kernels numpy, PyTorch and OpenCV use at AVX2
(``CXR_CPU_KERNELS=native`` lifts it), before any of them is imported, so that a stage
gives the same bits on any x86-64 machine: see ``cxr/cpu_kernels.py``. It also paces
progress bars to a line every few seconds where stderr is a log, not a terminal
(``cxr/progress.py``).
"""

from cxr.cpu_kernels import cap_cpu_kernels
from cxr.progress import pace_progress

cap_cpu_kernels()
pace_progress()
