"""How figures are written wherever a person reads them (reports, pages, the terminal):
a value, a value with its interval, a share as a percentage; ``n/a`` where there is none."""

from __future__ import annotations

import math


def number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def with_interval(value: float | None, ci: dict | None, digits: int = 3) -> str:
    """``0.812 (0.790-0.833)``, ``-0.020 (-0.041 to 0.001)``; with the usable share where
    resamples were dropped (``0.812 (0.790-0.833; 960/1000 resamples)``), and ``0.812 (no
    interval: only 470 of 1000 resamples define it ...)`` where it was withheld
    (``cxr.evaluation.bootstrap.interval``); the interval left out where there is none."""
    if value is None:
        return "n/a"
    if ci and ci.get("withheld"):
        return f"{value:.{digits}f} (no interval: {ci['withheld']})"
    if not ci or ci.get("low") is None:
        return number(value, digits)
    to = " to " if ci["low"] < 0 else "-"  # "-0.30--0.10" would read as a typo
    usable, total = ci.get("usable_resamples"), ci.get("resamples")
    share = f"; {usable}/{total} resamples" if usable is not None and usable != total else ""
    return f"{value:.{digits}f} ({ci['low']:.{digits}f}{to}{ci['high']:.{digits}f}{share})"


def p_value(value: float | None) -> str:
    """``0.012``; ``2.0e-04`` below 0.001, so a small bootstrap p-value never prints as 0."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def units(unit: str) -> str:
    """How a sentence names what was resampled: ``patients``, or ``images (the set has no
    patient ids)`` for ``cxr.external.formats.IMAGE_UNIT``."""
    head, _, rest = unit.partition(" ")
    return f"{head}s {rest}".strip()


def percent(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"
