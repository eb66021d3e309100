"""The evaluation report's section on a model trained on several sources: each source's
validation and test figures, and the source held out of training with its drop."""

from __future__ import annotations

from cxr.numbers import number, with_interval
from cxr.report.markdown import table

HEADER = ["source", "role", "findings", "val mean AUROC", "test images", "test mean AUROC"]


def _mean(figures: dict | None) -> str:
    if not figures:
        return "-"
    return with_interval(figures["mean_auroc"], figures.get("ci", {}).get("mean_auroc"))


def sources_section(metrics: dict) -> list[str]:
    """Nothing for a one-source run; else a table per source and the held-out figures."""
    sources = metrics.get("sources")
    if not sources:
        return []
    rows = [
        [name, entry["role"], str(len(entry.get("findings", []))),
         _mean(entry.get("val")), str(entry.get("test", {}).get("images", 0)),
         _mean(entry.get("test"))]
        for name, entry in sources.items()
    ]  # fmt: skip
    lines = [
        "## Per source",
        "",
        "Each source is split by its own patients (docs/sources.md). A source's mean AUROC "
        "is over the findings it labels; a finding it does not label is unknown in its "
        "images (never a negative) and adds nothing to the loss. The headline above is the "
        "pooled figure of the sources trained on.",
        "",
        table(
            ["source", "role", "findings", "val mean AUROC", "test images", "test mean AUROC"],
            rows,
            "llrrrr",
        ),
    ]
    held = metrics.get("held_out")
    if held:
        lines += [
            f"**Held out: {held['source']}.** No training or validation step saw it; on its "
            f"{held['test']['images']} images ({held['test']['patients']} patients), over the "
            f"{len(held['findings'])} findings it and the trained-on test sources share: "
            f"held-out mean AUROC {number(held['held_out_mean_auroc'])}, trained-on "
            f"{number(held['trained_on_mean_auroc'])}, difference "
            f"**{with_interval(held['drop'], held.get('ci'))}** (independent patient "
            "bootstraps of the two sides).",
            "",
        ]
    return lines
