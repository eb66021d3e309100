"""Small markdown helpers shared by the reports: tables, and the confusion table."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cxr.numbers import percent


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """A pipe table; ``align``: one ``l``/``r`` per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


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
