"""A published model's report beside cxr's model: its training data and NIH test overlap
first, then per finding both models' test AUROC and the paired difference."""

from __future__ import annotations

from cxr.findings import FINDINGS
from cxr.numbers import number, p_value, with_interval
from cxr.report.markdown import table


def peer_markdown(metrics: dict) -> str:
    """``cxr score``'s ``metrics.json`` as markdown."""
    test, versus = metrics["test"], metrics.get("vs_cxr_test")
    ci = test.get("ci", {})
    warning = "**Random weights: a smoke test; these numbers mean nothing.**"
    lines = [
        f"# {metrics['peer']} on the test split, beside cxr's model",
        "",
        *([warning, ""] if metrics["random_init"] else []),
        f"- Trained on: {metrics['trained_on']} (data set keys: "
        f"{', '.join(metrics.get('trained_on_datasets', [])) or 'not recorded'}).",
        f"- NIH test images in its training data: {metrics['nih_test_overlap']}.",
        f"- Weights: {metrics['weights_from']}. Calibration ({metrics['calibration']}) and "
        "thresholds fitted on the validation split, as for cxr's model.",
        "",
        f"Test mean AUROC over its {test['classes_in_mean']} findings: "
        f"{with_interval(test['mean_auroc'], ci.get('mean_auroc'))} ({test['images']} images "
        f"of {test['patients']} patients).",
        "",
    ]
    if versus is None:
        return "\n".join([*lines, "cxr's own test predictions were not there to compare.", ""])
    d = versus["mean_auroc"]
    lines += [
        f"Paired with cxr's model on the {len(versus['classes_in_mean'])} findings both score "
        f"({versus['resamples']} patient resamples): mean AUROC {number(versus['mean_auroc_b'])} "
        f"against cxr's {number(versus['mean_auroc_a'])}, a difference of "
        f"{with_interval(d['difference'], d)} (p = {p_value(d['p_value'])}). Per finding, "
        "p-values are Holm-adjusted over the findings tested.",
        "",
    ]
    rows = []
    for finding in FINDINGS:
        diff = versus["auroc"][finding]
        peer = test["auroc"][finding]
        ours = diff.get("auroc_a")
        interval = ci.get("auroc", {}).get(finding)
        theirs = "not scored" if peer is None else with_interval(peer, interval)
        rows.append([finding, number(ours), theirs, with_interval(diff["difference"], diff),
                     p_value(diff.get("p_value_holm"))])  # fmt: skip
    header = ["finding", "cxr AUROC", "peer AUROC", "peer - cxr (paired)", "p (Holm)"]
    lines.append(table(header, rows))
    for name, figures in metrics.get("external", {}).items():
        lines += external_lines(name, figures)
    return "\n".join(lines)


def external_lines(name: str, figures: dict) -> list[str]:
    """A peer's section on one external set: flagged where it is an NIH re-read or where
    the peer trained on that data."""
    versus, drop = figures["vs_cxr"]["mean_auroc"], figures["mean_drop_ci"]
    reread = figures.get("origin") == "nih_reread"
    flags = [f"**Not external for this model: {figures['training_overlap']}.**"] * bool(
        figures.get("training_overlap")
    )
    flags += ["**NIH re-read: NIH's own films, not another hospital's.**"] * reread
    gap = "a difference (not an external drop) of" if reread else "a drop of"
    return [
        f"## External set {name}",
        "",
        *flags,
        *([""] if flags else []),
        f"Mean AUROC over {len(figures['classes_in_mean'])} findings: "
        f"{with_interval(figures['mean_auroc'], figures['mean_auroc_ci'])}, against its "
        f"{number(figures['nih_test_mean_auroc'])} on the NIH test split: {gap} "
        f"{with_interval(figures['mean_drop'], drop)}. Minus cxr's model on this set "
        f"(paired): {with_interval(versus['difference'], versus)}.",
        "",
    ]
