"""Device choice and precision: bf16 autocast where the hardware computes bf16 natively
(GPUs of compute capability 8.0 on, and CPUs with AVX512-BF16 or AMX), fp16 autocast with
loss scaling on older GPUs (V100, T4), fp32 elsewhere or when asked.

``model.precision`` is ``auto`` or ``fp32``. The model's head always computes its
logits in fp32 (``cxr.models.layers.fp32_linear``), and the dual path's crop box is
found on an fp32 heat map, so a half precision changes the features, not how they are
read. fp16's narrow exponent range needs the training loop's ``GradScaler``
(:func:`needs_loss_scaling`); bf16 has fp32's range and needs none.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from cxr.cpu_kernels import BF16_FLAGS, cpu_flags

#: oneDNN ISA caps below bf16: under them PyTorch's bf16 convolutions fall back to slow
#: code (8x slower than fp32 here), so ``auto`` stays fp32.
_ONEDNN_WITHOUT_BF16 = {
    "SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
}  # fmt: skip


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; otherwise the named device, made the current
    CUDA device when it names one (``cuda:1``)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is not None:
        # Made current, so pinned-memory threads and default-device calls (RNG state,
        # memory stats) use it rather than making a context on GPU 0.
        torch.cuda.set_device(device)
    return device


def place(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` on ``device`` with its 4-d weights channels_last, as every stage runs it:
    training, validation, evaluation, GradCAM and prediction then compute alike (the
    same convolution kernels, so evaluate's validation logits are the training loop's)."""
    return model.to(device).to(memory_format=torch.channels_last)


def cpu_has_bf16(flags: set[str] | None = None, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this CPU computes bf16 natively and PyTorch may use it: a flag of
    :data:`~cxr.cpu_kernels.BF16_FLAGS` and no oneDNN cap below it (``CXR_CPU_KERNELS=avx2``
    sets one)."""
    flags = cpu_flags() if flags is None else flags
    isa = environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return bool(flags & BF16_FLAGS) and isa not in _ONEDNN_WITHOUT_BF16


def compute_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """What autocast computes in under ``auto``: on CUDA, ``torch.bfloat16`` from compute
    capability 8.0 (Ampere) on and ``torch.float16`` below it, where there are no bf16
    tensor cores; on a CPU, ``torch.bfloat16`` with native bf16 (:func:`cpu_has_bf16`);
    ``torch.float32`` otherwise and for ``fp32``.

    >>> compute_dtype(torch.device("cpu"), "fp32")
    torch.float32
    """
    if precision == "fp32":
        return torch.float32
    if precision != "auto":
        raise ValueError(f"precision {precision!r}; use auto or fp32")
    if device.type == "cuda":
        return torch.bfloat16 if _capability(device) >= (8, 0) else torch.float16
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return torch.float32


def needs_loss_scaling(dtype: torch.dtype) -> bool:
    """Whether training in ``dtype`` needs a ``GradScaler``: fp16 only (its smallest normal
    number is 6e-5, so small gradients flush to zero unless the loss is scaled up)."""
    return dtype == torch.float16


def _capability(device: torch.device) -> tuple[int, int]:
    return tuple(torch.cuda.get_device_capability(device))


def autocast(device: torch.device, dtype: torch.dtype = torch.float32):
    """Autocast to ``dtype`` on ``device``; a no-op for fp32."""
    on = dtype != torch.float32
    return torch.autocast(device.type, dtype=dtype if on else torch.bfloat16, enabled=on)


def precision_name(device: torch.device, dtype: torch.dtype) -> str:
    """How ``metrics/*.json`` records the precision: ``bf16 autocast (CPU: avx512_bf16)``,
    ``bf16 autocast (CUDA sm_90)``, ``fp16 autocast, loss scaling (CUDA sm_75)`` or ``fp32``."""
    if dtype == torch.float32:
        return "fp32"
    half = "fp16 autocast, loss scaling" if needs_loss_scaling(dtype) else "bf16 autocast"
    if device.type == "cuda":
        major, minor = _capability(device)
        return f"{half} (CUDA sm_{major}{minor})"
    return f"{half} (CPU: {', '.join(sorted(cpu_flags() & BF16_FLAGS))})"
