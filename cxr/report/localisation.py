"""The localisation report: pointing game and Wang et al.'s IoBB/IoU accuracies, beside controls."""

from __future__ import annotations

from cxr.explain.localisation import OVERLAP_THRESHOLDS
from cxr.report.markdown import number, table


def localisation_markdown(summary: dict, split: str) -> str:
    """Per-class and mean scores of GradCAM against true boxes (``metrics/explain.json``)."""
    lines = [f"# Localisation of GradCAM maps ({split} split)", ""]
    if not summary.get("cases"):
        return "\n".join([*lines, f"No true boxes in the {split} split: nothing to score.", ""])
    ts = [f"{t:g}" for t in OVERLAP_THRESHOLDS]
    lines += [
        "## Pointing game",
        "",
        f"A hit when the map's maximum lies within {summary['tolerance_px']} px of a true box "
        "(Zhang et al. 2016). Control: a uniform random map (its expected hit rate).",
        "",
        table(
            ["finding", "cases", "pointing game", "random map"],
            [
                [n, str(v["cases"]), number(v["pointing"]), number(v["random_expected"])]
                for n, v in summary["per_class"].items()
            ]
            + [
                [
                    "**mean**",
                    str(summary["cases"]),
                    number(summary["mean_pointing"]),
                    number(summary["mean_random_expected"]),
                ]
            ],
        ),
    ]
    box = summary["box_overlap"]
    header = ["finding", "cases", *[f"T(IoBB) {t}" for t in ts], *[f"T(IoU) {t}" for t in ts]]
    header.append("mean IoU")

    def row(name, cases, iobb, iou, mean_iou):
        return [
            name,
            str(cases),
            *[number(iobb[t]) for t in ts],
            *[number(iou[t]) for t in ts],
            number(mean_iou),
        ]

    model_rows = [
        row(n, v["cases"], v["iobb_accuracy"], v["iou_accuracy"], v["mean_iou"])
        for n, v in box["per_class"].items()
    ]
    model_rows.append(
        row(
            "**mean**",
            box["cases"],
            box["mean_iobb_accuracy"],
            box["mean_iou_accuracy"],
            box["mean_iou"],
        )
    )
    control_rows = [
        row(
            n, v["cases"], v["random_iobb_accuracy"], v["random_iou_accuracy"], v["random_mean_iou"]
        )
        for n, v in box["per_class"].items()
    ]
    control_rows.append(
        row(
            "**mean**",
            box["cases"],
            box["mean_random_iobb_accuracy"],
            box["mean_random_iou_accuracy"],
            box["mean_random_iou"],
        )
    )
    lines += [
        "## Box overlap (Wang et al. 2017)",
        "",
        f"Each map is thresholded at {box['box_threshold']:g} of its maximum; every connected "
        "region gives a box. A case counts at T when its best predicted box overlaps a true "
        "box by more than T. IoBB divides by the predicted box (it favours small boxes); "
        "IoU by the union.",
        "",
        "### GradCAM",
        "",
        table(header, model_rows),
        "### Control: smooth random maps (same threshold)",
        "",
        table(header, control_rows),
    ]
    return "\n".join(lines).rstrip() + "\n"
