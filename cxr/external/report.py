"""The external-validation report: one section per external set (its scores beside the
model's own NIH test figures, the drop, calibration transfer, the NIH thresholds' operating
point, and every row left out), gathered under one heading into ``reports/external.md``.

A set of NIH's own films (RSNA's, SIIM's: ``origin`` ``nih_reread``) is headed and
worded as an NIH re-read, its difference from the NIH test figure is not called a drop,
and each interval names the unit it resampled (images, where a set has no patient ids).
"""

from __future__ import annotations

from cxr.numbers import number, percent, units, with_interval
from cxr.report.localisation import localisation_markdown
from cxr.report.markdown import table

TITLE = "# External validation"


def set_markdown(
    name: str,
    source: str,
    metrics: dict,
    excluded: dict[str, int],
    localisation: dict | None = None,
    note: str = "",
) -> str:
    """The section of one set (``cxr.external.metrics.external_metrics``'s ``metrics``;
    ``excluded``: rows left out per reason; ``localisation``: the explain stage's summary on
    the set's boxes, where it has them; ``note``: what its format says a reader must know)."""
    level, resamples = metrics["level"], metrics["resamples"]
    reread = metrics.get("origin") == "nih_reread"
    counted = (f"{metrics['patients']} patients" if "patients" in metrics
               else "no patient ids")  # fmt: skip
    if reread:
        pairing = ("the difference from NIH test has no interval: the films are NIH's own, "
                   "so the two samples are not independent")  # fmt: skip
        gap = "a difference (NIH re-read, not an external drop) of"
    else:
        pairing = ("the drop's resamples each set on its own (the two sets are "
                   "independent)")  # fmt: skip
        gap = "a drop of"
    lines = [
        f"## {name}{' (NIH re-read, not external)' if reread else ''}",
        "",
        *([f"**{note}.**", ""] if note else []),
        f"{source}: {metrics['images']} images ({counted}) scored; "
        f"{sum(excluded.values())} rows left out (below). Intervals: {100 * level:g}% from "
        f"{resamples} resamples of {units(metrics.get('unit', 'patient'))}; "
        f"{pairing}.",
        "",
        f"Mean AUROC over the {len(metrics['classes_in_mean'])} findings both this set and "
        "the NIH test split score: "
        f"**{with_interval(metrics['mean_auroc'], metrics['mean_auroc_ci'])}**, against "
        f"{number(metrics['nih_test_mean_auroc'])} on the NIH test split: {gap} "
        f"**{with_interval(metrics['mean_drop'], metrics['mean_drop_ci'])}**.",
        "",
        *_guard_lines(metrics.get("guard")),
    ]
    header, rows = _class_table(metrics, reread)
    lines += [
        table(header, rows),
        "ECE under the calibration fitted on the NIH validation split shows whether the "
        "probabilities transfer; sensitivity and specificity are at the thresholds chosen on "
        "NIH validation. Unknown labels (uncertain under U-Ignore) are left out of that "
        "finding only.",
        "",
        'Rows left out (a reason that ends "its label counts" drops only that row\'s box; '
        "every row is listed in the set's `excluded.csv`):",
        "",
        table(["reason", "rows"], [[r, str(n)] for r, n in excluded.items()] or [["none", "0"]]),
    ]
    if localisation is not None:
        lines += ["", *_demoted(localisation_markdown(localisation), 2).splitlines()]
    return "\n".join(lines)


def _class_table(metrics: dict, reread: bool) -> tuple[list[str], list[list[str]]]:
    """The per-finding table: counts, AUROC and AUPRC, the gap to NIH test, calibration
    and the calls at NIH validation's thresholds."""
    difference = "difference (re-read)" if reread else "drop"
    header = ["finding", "pos / neg (unknown)", "AUROC", "AUPRC", "NIH test AUROC", difference]
    header += ["ECE (NIH calibration)", "ECE (uncalibrated)", "sensitivity", "specificity"]
    rows = []
    for finding in metrics["scored"]:
        v = metrics["per_class"][finding]
        rows.append(
            [
                finding,
                f"{v['positives']} / {v['negatives']} ({v['unknown']})",
                with_interval(v["auroc"], v["auroc_ci"]),
                with_interval(v["auprc"], v["auprc_ci"]),
                number(v["nih_test_auroc"]),
                with_interval(v["drop"], v["drop_ci"]),
                number(v["ece"]),
                number(v["ece_uncalibrated"]),
                percent(v["sensitivity"]),
                percent(v["specificity"]),
            ]
        )
    return header, rows


def _demoted(markdown: str, levels: int) -> str:
    """Headings moved ``levels`` down, so a report nests as a subsection."""
    return "\n".join("#" * levels + line if line.startswith("#") else line
                     for line in markdown.splitlines())  # fmt: skip


def external_markdown(sections: list[str]) -> str:
    """``reports/external.md``: every set's section, in ``external.sets`` order."""
    intro = (
        "The model trained on the NIH-layout data, scored without any refit on other "
        "hospitals' films, and on NIH re-reads (RSNA's and SIIM's sets: NIH's own films "
        "with radiologists' labels, so not external; each is headed as such): the "
        "preprocessing stored in its checkpoint, the calibration and thresholds chosen on "
        "its own validation split. Findings a set has no label for are not scored. "
        "docs/external.md has each data set's label mapping."
    )
    if not sections:
        return f"{TITLE}\n\n{intro}\n\nNo external sets in params.yaml (external.sets).\n"
    return "\n".join([TITLE, "", intro, "", *sections])


def _guard_lines(guard: dict | None) -> list[str]:
    """What the input guard made of the set: its flagged share and the AUROC without them."""
    if guard is None:
        return ["No input guard was fitted for this model (an older `best.pt`).", ""]
    reasons = ", ".join(f"{n} {r}" for r, n in guard["by_reason"].items() if n) or "none"
    unflagged = (
        f"mean AUROC on the {guard['images'] - guard['flagged']} images it accepted: "
        f"{with_interval(guard['unflagged_mean_auroc'], guard['unflagged_mean_auroc_ci'])}"
        if guard.get("unflagged_mean_auroc") is not None
        else "it accepted none"
    )
    return [
        f"The input guard (docs/guard.md) flags {guard['flagged']} of {guard['images']} "
        f"images ({100 * guard['flagged_share']:.1f}%; {reasons}); {unflagged}.",
        "",
    ]
