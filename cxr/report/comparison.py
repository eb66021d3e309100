"""The ``cxr compare`` table: B - A in mean and per-class AUROC, with paired intervals."""

from __future__ import annotations

from cxr.numbers import number, p_value, units
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
    rows += [
        [name, number(d.get("auroc_a")), number(d.get("auroc_b")), *_cells(d)]
        for name, d in result["auroc"].items()
    ]
    header = ["AUROC", "A", "B", "B - A", f"{100 * level:.0f}% CI", "p", "p (Holm)"]
    notes = [
        f"Intervals and p-values resample {units(result.get('unit', 'patient'))}; "
        f"p = 2(k+1)/(B+1) for k of "
        f"the B usable resamples on the far side of zero. {result['multiple_testing']}."
    ]
    notes += [f"{name}: {d['withheld']}" for name, d in [("mean", result["mean_auroc"]),
              *result["auroc"].items()] if d.get("withheld")]  # fmt: skip
    return table(header, rows) + "\n" + "\n".join(notes) + "\n"


def _cells(d: dict) -> list[str]:
    if d["low"] is None:
        ci = "withheld" if d.get("withheld") else "n/a"
    else:
        ci = f"{d['low']:+.3f} to {d['high']:+.3f}"
        if d.get("usable_resamples") != d.get("resamples"):
            ci += f" ({d['usable_resamples']}/{d['resamples']} resamples)"
    diff = "n/a" if d["difference"] is None else f"{d['difference']:+.3f}"
    return [diff, ci, p_value(d["p_value"]), p_value(d.get("p_value_holm"))]
