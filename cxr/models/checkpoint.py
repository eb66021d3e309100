"""Checkpoints: plain tensors and built-in types only, so they load with ``weights_only=True``.

``best.pt`` holds what rebuilds the model and its preprocessing (configs as
dicts, class names, weights): :func:`load_model` is how evaluate, explain and
inference get a trained model. ``last.pt`` (``cxr.training``) adds optimiser,
schedule, RNG and early-stopping state, the history and the best weights, to
resume at the next epoch. Both are written atomically with :func:`save`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cxr.atomic import atomic_path
from cxr.config import ModelConfig
from cxr.errors import InputError
from cxr.models.registry import build_model

FORMAT = 1


def save(path: str | Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


class CheckpointError(InputError):
    """A checkpoint file that cannot be read (damaged, truncated or not a cxr checkpoint)."""


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint; a damaged or foreign file is a :class:`CheckpointError` naming it."""
    redo = "train again (`dvc repro train`) or restore it (`dvc checkout`)"
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: missing; {redo}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(err).__name__}: {err}); damaged or "
            f"truncated? {redo}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a cxr checkpoint (format {found!r}); {redo}")
    return payload


def model_payload(model: nn.Module, model_config: ModelConfig, **info: Any) -> dict[str, Any]:
    """What ``best.pt`` holds: enough to rebuild the model and its preprocessing."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"model_config": dataclasses.asdict(model_config), "model_state": state, **info}


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from ``best.pt`` in eval mode; return it and the checkpoint's info."""
    payload = load(path)
    config = ModelConfig(**payload["model_config"])
    model = build_model(config, num_classes=len(payload["classes"]))
    model.load_state_dict(payload["model_state"])
    model.eval()
    info = {k: v for k, v in payload.items() if k != "model_state"}
    return model, info
