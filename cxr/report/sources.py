"""The evaluation report's section on a model trained on several sources: each source's
validation and test figures, and the source held out of training with its drop."""

from __future__ import annotations

from cxr.numbers import number, p_value, units, with_interval
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
            HEADER,
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
            f"**{with_interval(held['drop'], held.get('ci'))}** (independent bootstraps of "
            f"the two sides' {units((held.get('ci') or {}).get('unit', 'patient'))}).",
            "",
        ]
    return lines


def comparison_markdown(report: dict) -> str:
    """``reports/sources.md``: single- against multi-source training on a held-out hospital."""
    if "comparison" not in report:
        return f"# Training on several sources\n\nNot run: {report['off']}.\n"
    compared, held = report["comparison"], report["held_out"]
    mean = compared["mean_auroc"]
    rows = [
        [name, number(d["auroc_a"]), number(d["auroc_b"]), with_interval(d["difference"], d),
         p_value(d["p_value_holm"])]
        for name, d in compared["auroc"].items()
    ]  # fmt: skip
    trained = ", ".join(f"`{n}` ({s['splits']['train']['images']} train images)"
                        for n, s in report["sources"].items())  # fmt: skip
    excluded = "; ".join(f"{k}: {v}" for k, v in report["held_out_excluded"].items()) or "none"
    return "\n".join([
        "# Training on several sources",
        "",
        f"Does training on {', '.join(report['added'])} as well help on `{held}`, a hospital "
        "no model saw? Single-source: the pipeline's model (`data/model/best.pt`). "
        f"Multi-source: the same settings trained on {trained}, each source split by "
        "its own patients, findings a source does not label masked out of the loss, "
        "early-stopped on its own pooled validation split (best validation mean AUROC "
        f"{number(report['training']['best_val_mean_auroc'])} at epoch "
        f"{report['training']['best_epoch']}). Nothing was chosen on `{held}`.",
        "",
        f"On `{held}`'s {compared['images']} frontal films ({compared.get('patients')} "
        f"patients; left out: {excluded}), over the {len(compared['classes_in_mean'])} "
        "findings it labels:",
        "",
        f"- single-source mean AUROC **{number(compared['mean_auroc_a'])}**, multi-source "
        f"**{number(compared['mean_auroc_b'])}**",
        f"- multi minus single: **{with_interval(mean['difference'], mean)}** "
        f"({100 * compared['level']:.0f}% paired bootstrap over {compared['resamples']} "
        f"resamples of {units(compared['unit'])}: both models on the same resamples), "
        f"p = {p_value(mean['p_value'])}",
        "",
        table(["finding", "single", "multi", "multi - single", "p (Holm)"], rows, "lrrrr"),
        compared["multiple_testing"] + ".",
        "",
    ])  # fmt: skip
