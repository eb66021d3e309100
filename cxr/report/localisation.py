"""The localisation report: pointing game and Wang et al.'s IoBB/IoU accuracies, beside their
random-map controls, every figure with its patient-bootstrap interval."""

from __future__ import annotations

from cxr.explain.localisation import OVERLAP_THRESHOLDS
from cxr.numbers import units, with_interval
from cxr.report.markdown import table


def _cell(figure: dict, digits: int = 2) -> str:
    return with_interval(figure["value"], figure, digits)


def _intro(summary: dict) -> str:
    ci = summary["ci"]
    return (
        f"{summary['cases']} boxed cases of {summary['patients']} {units(ci['unit'])}. Each "
        f"figure has its {100 * ci['level']:g}% interval from {ci['resamples']} resamples of "
        f"{units(ci['unit'])}; "
        "a class's figure is the mean over its cases, the mean row the mean over classes (a "
        "resample with no case of a class is dropped from the mean's interval and counted; "
        "one on fewer than 90% of the resamples is withheld)."
    )


def localisation_markdown(summary: dict) -> str:
    """Per-class and mean scores of GradCAM against true boxes (``reports/localisation.json``)."""
    split = summary["split"]
    lines = [f"# Localisation of GradCAM maps ({split} split)", ""]
    if not summary.get("cases"):
        return "\n".join([*lines, f"No true boxes in the {split} split: nothing to score.", ""])
    rows = _Rows(summary)
    lines += [
        _intro(summary),
        "",
        *_pointing_section(summary, rows),
        *_overlap_section(summary, rows),
    ]
    if summary.get("fused"):
        lines += _fused_section(rows)
    return "\n".join(lines).rstrip() + "\n"


class _Rows:
    """The table rows of a summary: each class, then the mean."""

    def __init__(self, summary: dict) -> None:
        self.summary = summary
        self.items = [*summary["per_class"].items(), ("**mean**", summary["mean"])]
        self.who = units(summary["ci"]["unit"]).split(" ")[0]  # what the intervals resample
        self.thresholds = [f"{t:g}" for t in OVERLAP_THRESHOLDS]
        ts = self.thresholds
        self.overlap_header = ["finding", *[f"T(IoBB) {t}" for t in ts],
                               *[f"T(IoU) {t}" for t in ts], "mean IoU"]  # fmt: skip

    def cases(self, name: str, v: dict) -> list[str]:
        """The cases and patients (or images) behind a row."""
        source = self.summary if name == "**mean**" else v
        return [str(source["cases"]), str(source["patients"])]

    def overlap(self, prefix: str) -> list[list[str]]:
        """IoBB and IoU hits at each threshold and the mean IoU of the ``prefix`` maps."""
        ts = self.thresholds
        return [
            [name, *[_cell(v[f"{prefix}iobb_{t}"]) for t in ts],
             *[_cell(v[f"{prefix}iou_{t}"]) for t in ts], _cell(v[f"{prefix}mean_iou"])]
            for name, v in self.items
        ]  # fmt: skip


def _pointing_section(summary: dict, rows: _Rows) -> list[str]:
    control = summary["control"]
    return [
        f"Control: {control['maps_per_case']} random maps per case, built like the GradCAM map "
        f"(uniform noise on the {control['cam_grids']}-cell grids of the layers it hooks, "
        "resized, averaged), then pointed with and boxed the same way. *Gain* is GradCAM "
        "minus control on the same cases and resamples (a paired interval).",
        "",
        "## Pointing game",
        "",
        f"A hit when the map's maximum lies on a true box or within a disk of "
        f"{summary['tolerance_px']} px around it (Zhang et al. 2016).",
        "",
        table(
            ["finding", "cases", rows.who, "pointing game", "random maps", "gain"],
            [[name, *rows.cases(name, v), _cell(v["pointing"]), _cell(v["random_pointing"]),
              _cell(v["pointing_gain"])] for name, v in rows.items],
        ),
    ]  # fmt: skip


def _overlap_section(summary: dict, rows: _Rows) -> list[str]:
    return [
        "## Box overlap (Wang et al. 2017)",
        "",
        f"Each map is thresholded at {summary['box_threshold']:g} of its maximum; every "
        "connected region gives a box. A case counts at T when its best predicted box "
        "overlaps a true box by more than T. IoBB divides by the predicted box (it favours "
        "small boxes); IoU by the union.",
        "",
        "### GradCAM",
        "",
        table(rows.overlap_header, rows.overlap("")),
        "### Control: random maps (same threshold)",
        "",
        table(rows.overlap_header, rows.overlap("random_")),
        "Mean IoU gain over the control: "
        + ", ".join(f"{name} {_cell(v['mean_iou_gain'])}" for name, v in rows.items)
        + ".",
        "",
    ]


def _fused_section(rows: _Rows) -> list[str]:
    """The map with the local path's close look fused in, against GradCAM's alone."""
    return [
        "## With the local path's map",
        "",
        "The local path's GradCAM (at its last ReLU, over the crop it looked at) is put "
        "back into the image through the crop box, zero outside it, and averaged with the "
        "global map, then rescaled (`cxr.explain.gradcam.fuse`). *Gain* is the fused map "
        "minus GradCAM's alone, on the same cases and resamples (a paired interval).",
        "",
        table(
            ["finding", "cases", rows.who, "pointing", "fused", "gain", "mean IoU", "fused",
             "gain"],
            [
                [
                    name, *rows.cases(name, v), _cell(v["pointing"]), _cell(v["fused_pointing"]),
                    _cell(v["fused_pointing_gain"]), _cell(v["mean_iou"]),
                    _cell(v["fused_mean_iou"]), _cell(v["fused_mean_iou_gain"]),
                ]
                for name, v in rows.items
            ],
        ),
        "### Box overlap of the fused map",
        "",
        table(rows.overlap_header, rows.overlap("fused_")),
    ]  # fmt: skip
