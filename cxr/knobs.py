"""Each setting's default and allowed values in one place, and which settings change results.

Config dataclasses declare their fields with :func:`knob` (or :func:`speed_knob`),
which puts the allowed range next to the default. ``stages/params.py`` checks
every value of params.yaml against :func:`allowed` before a stage touches any
output, so ``train.epochs: -3`` is refused with the key, the value and the
range, never a traceback deep in a run.

A speed knob changes how fast or where, never what, a stage computes (worker
counts, device, inference batch sizes). DVC lists only the other keys as a
stage's params (``dvc.yaml``, key by key), so changing a speed knob reruns
nothing, and the training resume fingerprint hashes only
:func:`result_settings`, so it does not break the resume either.

Example::

    @dataclass(frozen=True)
    class Config:
        size: int = knob(64, ge=32)
        share: float = knob(0.5, gt=0, lt=1)
        workers: int = speed_knob(0, ge=0)

    result_settings(Config(workers=8))          # {"size": 64, "share": 0.5}
    result_keys(Config)                         # ["size", "share"]
    str(allowed(Config, "share"))               # "> 0 and < 1"
    allowed(Config, "size").admits(16)          # False
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Allowed:
    """The values a numeric or text setting may take: bounds, plus listed exceptions
    (``also``: e.g. 0 meaning "off" below a lower bound), or a text pattern."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    also: tuple[Any, ...] = ()
    pattern: str | None = None  # a full match, for text
    meaning: str = ""  # how to read the pattern, for the message

    def admits(self, value: Any) -> bool:
        if value in self.also:
            return True
        if self.pattern is not None:
            return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.lt is not None and value >= self.lt)
        )

    def __str__(self) -> str:
        if self.pattern is not None:
            return self.meaning or f"text matching {self.pattern}"
        bounds = [
            f"{op} {_number(v)}"
            for op, v in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
            if v is not None
        ]
        text = " and ".join(bounds) or "any finite number"
        return ", or ".join([*(_number(v) for v in self.also), text])


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


ANY = Allowed()
_SPEED = "changes_results"
_ALLOWED = "allowed"


def knob(default: Any, **allowed: Any) -> Any:
    """A dataclass field with its default and the values allowed in params.yaml."""
    return dataclasses.field(
        default=default, metadata={_ALLOWED: Allowed(**allowed)} if allowed else {}
    )


def speed_knob(default: Any, **allowed: Any) -> Any:
    """A :func:`knob` whose value changes how fast or where, never what, a stage computes."""
    metadata = {_SPEED: False}
    if allowed:
        metadata[_ALLOWED] = Allowed(**allowed)
    return dataclasses.field(default=default, metadata=metadata)


#: The ``device`` knob of every stage: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
DEVICE = {"pattern": r"auto|cpu|cuda(:\d+)?", "meaning": "auto, cpu, cuda or cuda:N"}


def allowed(cls: type, name: str) -> Allowed:
    """What params.yaml may set ``cls.name`` to (:data:`ANY` when the field declares nothing)."""
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    return field.metadata.get(_ALLOWED, ANY)


def _changes_results(field: dataclasses.Field) -> bool:
    return field.metadata.get(_SPEED, True)


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
