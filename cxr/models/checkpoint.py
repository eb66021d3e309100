"""Checkpoints: plain tensors and built-in types only, so they load with ``weights_only=True``.

``best.pt`` holds a trained model's weights and its :class:`ModelRecord`: what
rebuilds the model and its preprocessing, and where it came from.
:func:`load_model` is how evaluate, explain and inference get a trained model.
``last.pt`` (``cxr.training.resume``) holds the resume state. Both are written
atomically with :func:`save`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cxr.atomic import atomic_path
from cxr.config import ModelConfig, PreprocessConfig
from cxr.errors import InputError
from cxr.models.contract import Classifier
from cxr.models.registry import build_model

FORMAT = 1
REDO = "train again (`dvc repro train`) or restore it (`dvc checkout`)"


@dataclass(frozen=True)
class ModelRecord:
    """What ``best.pt`` says about its weights: the configs that rebuild the model and its
    input, and the run that made them."""

    model_config: ModelConfig
    classes: tuple[str, ...]
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    weights_used: str = "none"  # what initialised the backbone (cxr.models.registry.initialise)
    environment: dict[str, Any] | None = None  # the training machine (cxr.environment.describe)
    epoch: int = 0  # the epoch these weights are from
    val_mean_auroc: float = math.nan  # validation mean AUROC at that epoch

    def to_payload(self) -> dict[str, Any]:
        """Built-in types only, flat, as ``best.pt`` stores them."""
        return {**dataclasses.asdict(self), "classes": list(self.classes)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any], path: str | Path) -> ModelRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            values = {k: v for k, v in payload.items() if k in names}
            # Checkpoints from before dense block 4 was dilated at stride 16 ran it undilated
            # (a ResNet's stride 16 always dilated).
            legacy = {"dilated": payload["model_config"].get("arch") == "resnet50"}
            values["model_config"] = ModelConfig(**{**legacy, **payload["model_config"]})
            values["preprocess"] = PreprocessConfig(**payload.get("preprocess", {}))
            values["classes"] = tuple(payload["classes"])
            return cls(**values)
        except (KeyError, TypeError) as err:
            raise CheckpointError(f"{path}: lacks or misstates {err}; {REDO}") from None


def save(path: str | Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


def save_model(path: str | Path, state: dict[str, torch.Tensor], record: ModelRecord) -> None:
    """Write ``best.pt``: the weights ``state`` (on the CPU) and their record."""
    save(path, {"model_state": state, **record.to_payload()})


class CheckpointError(InputError):
    """A checkpoint file that cannot be read (damaged, truncated or not a cxr checkpoint)."""


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint; a damaged or foreign file is a :class:`CheckpointError` naming it."""
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: missing; {REDO}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(err).__name__}: {err}); damaged or "
            f"truncated? {REDO}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a cxr checkpoint (format {found!r}); {REDO}")
    return payload


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``model``'s weights (a snapshot the training cannot change)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def load_model(path: str | Path) -> tuple[Classifier, ModelRecord]:
    """Rebuild a model from ``best.pt`` in eval mode; return it and its record."""
    payload = load(path)
    record = ModelRecord.from_payload(payload, path)
    model = build_model(record.model_config, num_classes=len(record.classes))
    model.load_state_dict(payload["model_state"])
    model.eval()
    return model, record
