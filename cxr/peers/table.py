"""``reports/peers.md``: cxr's model and every published model of ``peers.models`` in the same
tables: what each was trained on and whether NIH test images may have been in it, the test
means with their intervals and the paired difference from cxr's model, AUROC per finding,
and each external set.

Each model's row comes from the files its own stage wrote: cxr's from evaluate's
``reports/evaluation.json`` and the external stage's ``reports/external/<set>.json``, a
peer's from ``reports/peers/<name>.json`` (``cxr score``'s ``metrics.json``). The paired
differences are the peer stage's (``cxr compare``'s ``paired_difference``: the same patient
resamples for both models, over the findings both score).
"""

from __future__ import annotations

from cxr.findings import FINDINGS
from cxr.numbers import with_interval
from cxr.report.markdown import table

TITLE = "# cxr's model beside published models"
OURS = "cxr (this pipeline)"
OURS_TRAINED_ON = "this pipeline's train split"
OURS_OVERLAP = "none: its test patients were held out"


def peers_table_markdown(
    ours: dict, peers: dict[str, dict], ours_external: dict[str, dict], level: float
) -> str:
    """``ours``: evaluate's figures (``reports/evaluation.json``); ``peers``: each peer's
    ``cxr score`` metrics by name; ``ours_external``: cxr's figures on each external set."""
    lines = [TITLE, ""]
    if not peers:
        lines += [
            "No published model is listed in `peers.models` (params.yaml), so cxr's is alone "
            "here; docs/peers.md says how to add one.",
            "",
        ]
    lines += [
        f"## Test split ({ours['test']['images']} images of {ours['test']['patients']} "
        f"patients; {100 * level:g}% patient-bootstrap intervals)",
        "",
        "Each model's calibration and thresholds were fitted on the validation split. Peer "
        "minus cxr is paired over the same patient resamples, on the findings both score; "
        "it is a final report, not a basis for choosing.",
        "",
        _test_table(ours["test"], peers),
        "### AUROC per finding",
        "",
        _finding_table(ours["test"], peers),
    ]
    if any(m.get("external") for m in peers.values()) or ours_external:
        levels = {f"{100 * f['level']:g}%" for f in ours_external.values()}
        levels |= {f"{100 * f['level']:g}%" for m in peers.values()
                   for f in m.get("external", {}).values()}  # fmt: skip
        lines += [
            f"## External sets ({', '.join(sorted(levels))} bootstrap intervals)",
            "",
            "Each model with its own validation calibration and thresholds; the drop is from "
            "its own NIH test figures, over the findings the set and it score. A set of NIH's "
            "own films (RSNA, SIIM) is an NIH re-read: its difference is not an external drop "
            "and has no interval. A figure marked NOT EXTERNAL is a peer's on data it trained "
            "on. Each set's intervals resample its patients, or its images where it has no "
            "patient ids (its report says which).",
            "",
            _external_table(ours_external, peers),
        ]
    return "\n".join(lines)


def _label(name: str, metrics: dict) -> str:
    return f"{name} ({metrics['peer']}{', RANDOM WEIGHTS' if metrics['random_init'] else ''})"


def _test_table(ours: dict, peers: dict[str, dict]) -> str:
    header = ["model", "trained on", "NIH test images in its training data", "findings in mean",
              "mean AUROC", "mean AUPRC", "minus cxr (paired)"]  # fmt: skip
    ci = ours.get("ci", {})
    rows = [[OURS, OURS_TRAINED_ON, OURS_OVERLAP, ours["classes_in_mean"],
             with_interval(ours["mean_auroc"], ci.get("mean_auroc")),
             with_interval(ours["mean_auprc"], ci.get("mean_auprc")), ""]]  # fmt: skip
    for name, metrics in peers.items():
        test, theirs = metrics["test"], metrics["test"].get("ci", {})
        versus = metrics.get("vs_cxr_test")
        difference = "n/a (no cxr predictions)"
        if versus:
            d = versus["mean_auroc"]
            difference = (
                f"{with_interval(d['difference'], d)} over {len(versus['classes_in_mean'])}"
            )
        rows.append([
            _label(name, metrics), metrics["trained_on"],
            metrics["nih_test_overlap"].split(":")[0], test["classes_in_mean"],
            with_interval(test["mean_auroc"], theirs.get("mean_auroc")),
            with_interval(test["mean_auprc"], theirs.get("mean_auprc")), difference,
        ])  # fmt: skip
    return table(header, rows, "lllrrrr")


def _paired(versus: dict) -> str:
    """``-0.020 (-0.041 to 0.001) over 7``: a paired mean difference and its findings."""
    d = versus["mean_auroc"]
    return f"{with_interval(d['difference'], d)} over {len(versus['classes_in_mean'])}"


def _finding_table(ours: dict, peers: dict[str, dict]) -> str:
    header = ["finding", OURS, *(f"{name}" for name in peers)]
    rows = []
    for finding in FINDINGS:
        row = [finding, _auroc(ours, finding)]
        for metrics in peers.values():
            if finding not in metrics["scored"]:
                row.append("not scored")  # the peer has no output for it
                continue
            cell = _auroc(metrics["test"], finding)
            d = metrics.get("vs_cxr_test", {}).get("auroc", {}).get(finding)
            if d and d.get("difference") is not None:
                cell += f"; minus cxr {with_interval(d['difference'], d)}"
            row.append(cell)
        rows.append(row)
    return table(header, rows)


def _auroc(scored: dict, finding: str) -> str:
    value = scored["auroc"].get(finding)
    if value is None:
        return "n/a (one label value in test)"
    return with_interval(value, scored.get("ci", {}).get("auroc", {}).get(finding))


def _external_table(ours: dict[str, dict], peers: dict[str, dict]) -> str:
    header = ["set", "model", "findings", "mean AUROC",
              "drop from its NIH test (re-read: difference)", "minus cxr (paired)"]  # fmt: skip
    names = list(
        dict.fromkeys([*ours, *(s for m in peers.values() for s in m.get("external", {}))])
    )
    rows = []
    for name in names:
        if name in ours:
            rows.append([_set_label(name, ours[name]), OURS, *_external_cells(ours[name]), ""])
        for peer, metrics in peers.items():
            figures = metrics.get("external", {}).get(name)
            if figures is None:
                continue
            label = _label(peer, metrics)
            if figures.get("training_overlap"):
                label += f"; NOT EXTERNAL: {figures['training_overlap']}"
            rows.append([_set_label(name, figures), label, *_external_cells(figures),
                         _paired(figures["vs_cxr"])])  # fmt: skip
    return table(header, rows, "llrrrr")


def _set_label(name: str, figures: dict) -> str:
    return f"{name} (NIH re-read)" if figures.get("origin") == "nih_reread" else name


def _external_cells(figures: dict) -> list[str]:
    return [
        str(len(figures["classes_in_mean"])),
        with_interval(figures["mean_auroc"], figures["mean_auroc_ci"]),
        with_interval(figures["mean_drop"], figures["mean_drop_ci"]),
    ]
