"""Which settings change a result and which only change speed or where a stage runs.

A config dataclass marks its speed-only fields with :func:`speed_knob` (worker
counts, device, inference batch sizes). DVC lists only the other keys as a
stage's params (``dvc.yaml``, key by key), so changing a speed knob reruns
nothing, and the training resume fingerprint hashes only
:func:`result_settings`, so it does not break the resume either.

Example::

    @dataclass(frozen=True)
    class Config:
        size: int = 64
        workers: int = speed_knob(0)

    result_settings(Config(workers=8))  # {"size": 64}
    result_keys(Config)                 # ["size"]
"""

from __future__ import annotations

import dataclasses
from typing import Any

_SPEED = {"changes_results": False}


def speed_knob(default: Any) -> Any:
    """A dataclass field whose value changes how fast or where, never what, a stage computes."""
    return dataclasses.field(default=default, metadata=_SPEED)


def _changes_results(field: dataclasses.Field) -> bool:
    return field.metadata.get("changes_results", True)


def result_keys(cls: type) -> list[str]:
    """The fields of a config dataclass that change results, in declaration order."""
    return [f.name for f in dataclasses.fields(cls) if _changes_results(f)]


def result_settings(config: Any) -> dict[str, Any]:
    """``dataclasses.asdict(config)`` without its speed knobs (nested configs too)."""
    out = {}
    for f in dataclasses.fields(config):
        if not _changes_results(f):
            continue
        value = getattr(config, f.name)
        out[f.name] = result_settings(value) if dataclasses.is_dataclass(value) else value
    return out
