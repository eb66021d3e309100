"""Weights as safetensors: written without pickle, read back only whole.

A checkpoint that loads partly is the failure CheXNet's users met (a
``strict=False`` load after a PyTorch upgrade took nothing and scored AUROC
0.49). :func:`load_weights` refuses a file that is not safetensors (a pickle
included: safetensors never executes code), a truncated or tampered one, a
missing or unexpected key and a tensor of the wrong shape or dtype, each with
the file and the key named.

Example::

    save_weights(model, Path("model.safetensors"), {"arch": "densenet121"})
    load_weights(build_model(config), Path("model.safetensors"))   # every key, every shape
"""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from cxr.errors import InputError


class ExportError(InputError):
    """An export folder or one of its files that cannot be used; the message names it."""


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """``model``'s whole state (parameters and buffers, contiguous CPU copies) into
    ``path`` (in a folder the caller renames into place), with ``metadata`` (text) in the
    file's header: one entry keeps the bytes reproducible (safetensors writes several in
    a random order)."""
    if len(metadata) > 1:
        raise ValueError(f"one metadata entry, not {len(metadata)}: the file's bytes would vary")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=metadata)


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load ``path`` into ``model`` only if it holds exactly the model's keys, each of the
    model's shape and dtype; else an :class:`ExportError` naming the file and the keys."""
    if not path.is_file():
        raise ExportError(f"{path}: missing; export the model again (`cxr export`)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ExportError(
            f"{path}: not a readable safetensors file ({err}); truncated, tampered with, or "
            "a pickle? cxr loads exported weights only as safetensors"
        ) from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ExportError(
            f"{path}: its keys are not the model's ({len(missing)} missing, e.g. "
            f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]}); it was "
            "exported from another architecture or config"
        )
    wrong = [
        f"{k} {tuple(state[k].shape)} {state[k].dtype} (the model's: {tuple(v.shape)} {v.dtype})"
        for k, v in expected.items()
        if state[k].shape != v.shape or state[k].dtype != v.dtype
    ]
    if wrong:
        raise ExportError(f"{path}: {len(wrong)} tensors of the wrong shape, e.g. {wrong[0]}")
    model.load_state_dict(state, strict=True)
    return model
