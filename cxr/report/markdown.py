"""Small markdown helpers shared by the reports: tables and numbers with intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """A pipe table; ``align``: one ``l``/``r`` per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def with_interval(value: float | None, ci: dict | None, digits: int = 3) -> str:
    """``0.812 (0.790-0.833)``, ``-0.020 (-0.041 to 0.001)``; the interval left out where there
    is none."""
    if value is None:
        return "n/a"
    if not ci or ci.get("low") is None:
        return number(value, digits)
    to = " to " if ci["low"] < 0 else "-"  # "-0.30--0.10" would read as a typo
    return f"{value:.{digits}f} ({ci['low']:.{digits}f}{to}{ci['high']:.{digits}f})"


def percent(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def confusion_markdown(confusion: pd.DataFrame, title: str) -> str:
    """The TP/FP/FN/TN table (``cxr.evaluation.evaluate``'s ``confusion``), one finding per
    row, under ``title``."""
    header = ["finding", "threshold", "positives", "TP", "FP", "FN", "TN"]
    header += ["sensitivity", "specificity", "PPV"]
    rows = []
    for r in confusion.itertuples():
        rates = [percent(r.sensitivity), percent(r.specificity), percent(r.PPV)]
        rows.append([r.finding, f"{r.threshold:.3f}", r.positives, r.TP, r.FP, r.FN, r.TN, *rates])
    return f"# {title}\n\n" + table(header, rows)
