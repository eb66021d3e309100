"""Device choice and precision: bf16 autocast and channels_last on CUDA, fp32 on CPU."""

from __future__ import annotations

import torch


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op (fp32) elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def precision(device: torch.device) -> str:
    """What :func:`autocast` computes in on ``device``, as ``metrics/train.json`` records it."""
    return "bf16 autocast" if device.type == "cuda" else "fp32"
