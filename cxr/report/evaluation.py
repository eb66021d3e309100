"""The evaluation report: data and split, headline with intervals, anchors, per class, subgroups."""

from __future__ import annotations

from cxr.findings import FINDINGS
from cxr.models.checkpoint import ModelRecord
from cxr.numbers import number, percent, with_interval
from cxr.report.anchors import ANCHORS, SPLIT_NAMES
from cxr.report.markdown import table
from cxr.report.sources import sources_section


def _headline(scores: dict, key: str) -> str:
    return with_interval(scores[key], scores.get("ci", {}).get(key))


def _data_section(ingest: dict, data_source: str) -> list[str]:
    label = ingest["label_file"]
    split = ingest["split_mode"]
    rows = [[name, str(s["images"]), str(s["patients"])] for name, s in ingest["splits"].items()]
    return [
        "## Data and split",
        "",
        f"- Data: {data_source}",
        f"- Label file: `{label['name']}` ({label['variant']}), sha256 `{label['sha256']}`",
        f"- Split: {SPLIT_NAMES.get(split, split)} (`ingest.split: {split}`, seed "
        f"{ingest['seed']}); no patient is in two splits",
        f"- Rejected inputs: {ingest['rejected']} (listed in `data/interim/rejected.csv`)",
        "",
        table(["split", "images", "patients"], rows),
    ]


def _anchor_section(test: dict, split: str, synthetic: bool) -> list[str]:
    rows = [[a.name, SPLIT_NAMES[a.split], f"{a.mean_auroc:.3f}", a.note] for a in ANCHORS]
    rows.append(
        ["**this run**", SPLIT_NAMES.get(split, split), _headline(test, "mean_auroc"), "test split"]
    )
    caveat = (
        "These numbers come from the synthetic demo data: they show the pipeline "
        "works and are **not comparable** with any published figure."
        if synthetic
        else "Compare only rows measured on the same kind of split; a random patient "
        "split scores higher than the official test list for the same model."
    )
    return [
        "## Published anchors (mean AUROC over 14 findings)",
        "",
        table(["model", "split", "mean AUROC", "note"], rows, "llrl"),
        caveat,
        "",
    ]


def _class_section(test: dict, metrics: dict) -> list[str]:
    ci = test.get("ci", {})
    ece = metrics["calibration"]["test"]["ece"]
    at = metrics["test_at_val_thresholds"]
    rows = []
    for name in FINDINGS:
        rows.append(
            [
                name,
                str(test["positives"][name]),
                with_interval(test["auroc"][name], ci.get("auroc", {}).get(name)),
                with_interval(test["auprc"][name], ci.get("auprc", {}).get(name)),
                number(ece[name]),
                number(at[name]["threshold"]),
                percent(at[name]["sensitivity"]),
                percent(at[name]["specificity"]),
            ]
        )
    header = [
        "finding",
        "positives",
        "AUROC (95% CI)",
        "AUPRC (95% CI)",
        "ECE",
        "threshold",
        "sensitivity",
        "specificity",
    ]
    support = metrics.get("threshold_support", {})
    notes = []
    if support.get("defaulted_to_0.5"):
        notes.append(
            "Validation had only one label value for "
            + ", ".join(support["defaulted_to_0.5"])
            + ": their threshold is the default 0.5, not a choice."
        )
    if support.get("few_validation_positives"):
        notes.append(
            "Thresholds chosen from fewer than 5 validation positives (treat as guesses): "
            + ", ".join(f"{n} ({c})" for n, c in support["few_validation_positives"].items())
            + "."
        )
    return [
        "## Per finding (test)",
        "",
        f"Thresholds chosen on validation ({metrics['threshold_policy']}) and applied "
        "unchanged to test.",
        "",
        table(header, rows),
        *[f"{n}\n" for n in notes],
    ]


def _calibration_section(calibration: dict) -> list[str]:
    test = calibration["test"]
    how = {
        "platt": "Platt scaling, a slope and an intercept per finding",
        "temperature": "temperature scaling, one slope per finding",
        "none": "none (the raw sigmoid)",
    }[calibration["method"]]
    if calibration["method"] != "none":
        how += (
            ", fitted on validation by minimising the binary cross-entropy against Platt's "
            "regularised targets (so a well-separated finding gets a finite slope); it "
            "changes no ranking, and AUROC and AUPRC are computed on the raw logits"
        )
    bound = calibration.get("on_a_bound") or []
    return [
        "## Calibration (test)",
        "",
        f"- Method: {how}",
        f"- Fits that ended on a slope or intercept bound: {', '.join(bound) or 'none'}",
        f"- Mean expected calibration error ({test['bins']} equal-width bins): "
        f"{number(test['mean_ece'])} (uncalibrated {number(test['mean_ece_uncalibrated'])})",
        "- Reliability diagram per finding: `plots/eval/calibration.csv` (`dvc plots show`)",
        "",
    ]


def _subgroup_section(subgroups: dict) -> list[str]:
    lines = ["## Subgroups (test)", ""]
    for attribute, groups in subgroups.items():
        rows = [
            [
                group,
                str(g["images"]),
                str(g["patients"]),
                _headline(g, "mean_auroc"),
                number(g["mean_auprc"]),
                str(g["classes_in_mean"]),
            ]
            for group, g in groups.items()
        ]
        lines += [
            f"### By {attribute}",
            "",
            table(
                [attribute, "images", "patients", "mean AUROC (95% CI)", "mean AUPRC", "classes"],
                rows,
            ),
        ]
    lines += [
        "A group's mean covers the findings with both label values in it (`classes`), the "
        "same findings in every resample. A resample of a small group can lack a positive "
        "of one of them; such resamples are dropped and counted (`n/B resamples` beside "
        "the interval), and an interval resting on fewer than 90% of them is not shown. "
        "Compare groups' means only over the same findings.",
        "",
    ]
    return lines


def _expert_section(expert: dict) -> list[str]:
    lines = ["## Radiologist labels (Google 2019)", ""]
    if not expert.get("available"):
        return [*lines, f"Not evaluated: {expert.get('reason', 'no file')}.", ""]
    elsewhere = ", ".join(f"{k} {v}" for k, v in expert["not_in_test_split"].items()) or "none"
    lines += [
        f"{expert['images']} of the file's {expert['file_test_images']} `test` images are in "
        f"this run's test split ({expert['patients']} patients); elsewhere: {elsewhere}. "
        "The file's `val` images are never used (they are in NIH's train_val).",
        "",
    ]
    if "findings" not in expert:
        return lines
    rows = [
        [
            name,
            " / ".join(expert["heads"][name]),
            str(f["expert_positives"]),
            with_interval(f["auroc_vs_expert"], f.get("ci")),
            number(f["auroc_vs_nih"]),
            percent(f["nih_label_sensitivity"]),
            percent(f["nih_label_specificity"]),
        ]
        for name, f in expert["findings"].items()
    ]
    header = [
        "finding",
        "scored by (max of heads)",
        "positives",
        "AUROC vs radiologists (95% CI)",
        "AUROC vs NIH labels",
        "NIH label sensitivity",
        "NIH label specificity",
    ]
    not_done = "; ".join(f"{k}: {v}" for k, v in expert["not_evaluated"].items())
    return [*lines, table(header, rows, "llrrrrr"), f"Not evaluated: {not_done}.", ""]


def evaluation_markdown(metrics: dict, ingest: dict, model: ModelRecord, data_source: str) -> str:
    """The report of one evaluate run of the model ``best.pt``'s record describes."""
    test, val = metrics["test"], metrics["val"]
    ci = test.get("ci")
    synthetic = "demo" in data_source.lower()
    lines = [
        "# Evaluation report",
        "",
        f"Model: `{model.model_config.arch}`, epoch {model.epoch} of training (best "
        f"validation mean AUROC), initial weights: {model.weights_used}, input "
        f"{model.preprocess.size} px.",
        "",
        *_data_section(ingest, data_source),
        "## Headline (test)",
        "",
        f"- Mean AUROC: **{_headline(test, 'mean_auroc')}** over {test['classes_in_mean']} "
        "findings",
        f"- Mean AUPRC: {_headline(test, 'mean_auprc')}",
        f"- Validation mean AUROC: {_headline(val, 'mean_auroc')}",
        (
            f"- Intervals: {100 * ci['level']:.0f}% percentile bootstrap over {ci['resamples']} "
            "resamples of **patients** (all images of a drawn patient go in together); "
            "AUROC and AUPRC rank the raw logits (calibration cannot change them); an "
            "interval that rests on fewer than 90% of the resamples is withheld, and one "
            "that dropped any says how many it kept"
            if ci
            else "- Intervals: none (`evaluate.bootstrap: 0`)"
        ),
        "",
        *_anchor_section(test, ingest["split_mode"], synthetic),
        *_class_section(test, metrics),
        *_calibration_section(metrics["calibration"]),
        *_subgroup_section(metrics["subgroups"]),
        *_expert_section(metrics["expert_labels"]),
        *_guard_section(metrics.get("guard")),
        *sources_section(metrics),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _guard_section(guard: dict | None) -> list[str]:
    """How many validation and test films the input guard would refuse, and why."""
    if guard is None:
        return []
    rows = [
        [split, f"{guard[split]['flagged']} / {guard[split]['images']}",
         f"{100 * guard[split]['flagged_share']:.1f}%",
         *(str(guard[split]["by_reason"][r]) for r in guard[split]["by_reason"])]
        for split in ("val", "test")
    ]  # fmt: skip
    header = ["split", "refused", "share", *guard["val"]["by_reason"]]
    return [
        "## Input guard",
        "",
        f"The films `cxr predict` would refuse (docs/guard.md): {guard['method']}. Fitted "
        f"on {guard['train_images']} training films; the distance's cut "
        f"({guard['distance_cut']}) is the {100 * (1 - guard['false_flag']):g}th percentile "
        f"of {guard['cut_rests_on']}. Every film here is a frontal film of the training "
        "data's kind, so each refusal is a false one.",
        "",
        table(header, rows, "lrr" + "r" * len(guard["val"]["by_reason"])),
    ]
