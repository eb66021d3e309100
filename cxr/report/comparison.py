"""The ``cxr compare`` table: B - A in mean and per-class AUROC, with paired intervals."""

from __future__ import annotations

from cxr.numbers import number
from cxr.report.markdown import table


def comparison_table(result: dict, level: float) -> str:
    """A markdown table of ``cxr.evaluation.compare.paired_difference``'s ``result``."""
    rows = [
        [
            "**mean**",
            number(result["mean_auroc_a"]),
            number(result["mean_auroc_b"]),
            *_cells(result["mean_auroc"]),
        ]
    ]
    rows += [[name, "", "", *_cells(d)] for name, d in result["auroc"].items()]
    header = ["AUROC", "A", "B", "B - A", f"{100 * level:.0f}% CI", "p"]
    return table(header, rows)


def _cells(d: dict) -> list[str]:
    ci = "n/a" if d["low"] is None else f"{d['low']:+.3f} to {d['high']:+.3f}"
    diff = "n/a" if d["difference"] is None else f"{d['difference']:+.3f}"
    return [diff, ci, number(d["p_value"])]
