"""What a resumed run needs beyond ``last.pt``'s tensors: the random generators' states."""

from __future__ import annotations

from typing import Any

import torch


def rng_state() -> dict[str, Any]:
    """Torch's CPU and CUDA generator states (dropout and anything else drawing from them).

    The loop also reseeds them per epoch; these states make a resumed run exact
    even for draws a future change might add between epochs.
    """
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
