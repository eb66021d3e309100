"""The export's model card: YAML front matter in the layout model hubs read (licence,
tags, data sets, every metric with its split, interval and label-file hash), then the
evaluate stage's model card (``reports/model_card.md``), external drops and the input
guard's rates, the files, how to use them, and that the model is not for diagnosis.

Every figure is copied from the committed reports, never recomputed here.
"""

from __future__ import annotations

import io

from ruamel.yaml import YAML

from cxr.models.checkpoint import ModelRecord
from cxr.numbers import number, with_interval
from cxr.report.model_card import trained_on

NOT_FOR_DIAGNOSIS = (
    "**Research use only. Not a medical device; not for diagnosis, triage or any "
    "decision about a patient.**"
)


def export_card(
    record: ModelRecord,
    evaluation: dict,
    ingest: dict,
    externals: dict[str, dict],
    body: str,
    data_source: str,
) -> str:
    """The card of a model described by ``record`` with the evaluate stage's ``evaluation``
    (``reports/evaluation.json``), ingest's metrics (its label file), each external set's
    report, the evaluate stage's model card ``body`` and where the data came from."""
    arch = record.model_config.arch
    front = _front_matter(arch, evaluation, ingest, externals, data_source)
    lines = [
        "---", front.rstrip(), "---", "",
        f"# cxr {arch}: 14 chest X-ray findings", "", NOT_FOR_DIAGNOSIS, "",
        *_demoted(body), "", *_external_lines(externals), *_guard_lines(evaluation.get("guard")),
        *_use_lines(),
    ]  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


def _front_matter(
    arch: str, evaluation: dict, ingest: dict, externals: dict[str, dict], data_source: str
) -> str:
    label = ingest.get("label_file", {})
    sources = trained_on(ingest)
    dataset = {"name": data_source, "type": "nih-chestxray14-layout", "split": "test",
               "revision": f"{label.get('name')} sha256:{label.get('sha256')}"}  # fmt: skip
    if len(sources) > 1:  # the headline is the test split pooled over every source trained on
        dataset |= {"name": " + ".join(sources), "type": "several sources",
                    "split": "test, pooled over the sources trained on"}  # fmt: skip
    test, ci = evaluation["test"], evaluation["test"]["ci"]
    metrics = [
        _metric("roc_auc", "mean AUROC", test["mean_auroc"], ci["mean_auroc"]),
        _metric("average_precision", "mean AUPRC", test["mean_auprc"], ci.get("mean_auprc")),
    ] + [
        _metric("roc_auc", f"AUROC {name}", v, test["ci"].get("auroc", {}).get(name))
        for name, v in test["auroc"].items()
    ]  # fmt: skip
    results = [{"task": {"type": "image-classification",
                         "name": "multi-label chest X-ray classification"},
                "dataset": dataset, "metrics": metrics}]  # fmt: skip
    results += _held_out_result(evaluation.get("held_out"))
    for name, report in externals.items():
        results.append({
            "task": {"type": "image-classification", "name": "external validation"},
            "dataset": {"name": name, "type": report.get("format"), "split": "all",
                        "origin": report.get("origin")},
            "metrics": [_metric("roc_auc", "mean AUROC", report["mean_auroc"],
                                report["mean_auroc_ci"])],
        })  # fmt: skip
    front = {
        "license": "apache-2.0",
        "library_name": "cxr",
        "pipeline_tag": "image-classification",
        "tags": ["chest-x-ray", "multi-label-classification", "medical-imaging", arch,
                 "safetensors", "onnx", "research-only"],
        "datasets": [data_source, *[s for s in sources if ingest["sources"][s]["format"] != "nih"]],
        "metrics": ["roc_auc", "average_precision"],
        "model-index": [{"name": f"cxr-{arch}", "results": results}],
    }  # fmt: skip
    stream = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(front, stream)
    return stream.getvalue()


def _held_out_result(held: dict | None) -> list[dict]:
    """The source held out of training (``ingest.hold_out``), as a model-index result."""
    if not held:
        return []
    test = held["test"]
    return [{
        "task": {"type": "image-classification", "name": "held-out source"},
        "dataset": {"name": held["source"], "split": "test (held out of training)"},
        "metrics": [_metric("roc_auc", "mean AUROC", test["mean_auroc"],
                            test.get("ci", {}).get("mean_auroc"))],
    }]  # fmt: skip


def _metric(kind: str, name: str, value: float | None, ci: dict | None) -> dict:
    """One model-index metric: its value and its interval, or why it has none."""
    out = {"type": kind, "name": name, "value": value}
    if ci and ci.get("low") is not None:
        out |= {"ci_low": ci["low"], "ci_high": ci["high"], "ci_unit": ci.get("unit"),
                "ci_resamples": ci.get("usable_resamples", ci.get("resamples"))}  # fmt: skip
    elif ci:
        out["ci_withheld"] = ci.get("withheld") or "no interval"
    return out


def _demoted(body: str) -> list[str]:
    """The evaluate stage's card without its title, its headings one level down."""
    lines = [line for line in body.splitlines() if not line.startswith("# ")]
    return ["#" + line if line.startswith("##") else line for line in lines]


def _external_lines(externals: dict[str, dict]) -> list[str]:
    if not externals:
        return []
    lines = ["### External sets", ""]
    for name, r in externals.items():
        gap = "difference (an NIH re-read, not external)" if r.get("origin") == "nih_reread" \
            else "drop"  # fmt: skip
        lines.append(
            f"- {name} ({r.get('format')}, {r['images']} images): mean AUROC "
            f"{with_interval(r['mean_auroc'], r['mean_auroc_ci'])} against "
            f"{number(r['nih_test_mean_auroc'])} on the test split, a {gap} of "
            f"{with_interval(r['mean_drop'], r['mean_drop_ci'])}"
        )
    return [*lines, ""]


def _guard_lines(guard: dict | None) -> list[str]:
    if not guard:
        return ["### Input guard", "", "- None fitted: every file is read as a frontal "
                "chest radiograph.", ""]  # fmt: skip
    rates = [f"{split} {100 * guard[split]['flagged_share']:.1f}% "
             f"({guard[split]['flagged']} of {guard[split]['images']})"
             for split in ("val", "test") if split in guard]  # fmt: skip
    return ["### Input guard", "",
            f"- Refuses what is not a frontal chest radiograph like its training data "
            f"(`guard.npz`, docs/guard.md); share refused: {', '.join(rates)}.", ""]  # fmt: skip


def _use_lines() -> list[str]:
    return [
        "### Files and use", "",
        "- `model.safetensors` (weights), `config.json` (architecture, preprocessing, "
        "classes), `calibration.json` and `thresholds.json` (fitted on validation), "
        "`guard.npz` (the input guard), `model.onnx` (the forward pass), `reference/` and "
        "`reference.csv` (phantom inputs drawn for the export and the outputs they gave); "
        "`config.json` lists each file's SHA-256, and loading checks them.", "",
        "With cxr installed (its repository: `pip install -c requirements-lock.txt -e "
        "'.[export]'`), from this folder:", "",
        "```", "cxr check-export .", "cxr predict --model . some/films/", "```", "",
        "With ONNX Runtime alone: make the array as `config.json`'s `preprocessing` says, "
        "divide by 255 and feed it to `image` as float32 of shape (batch, 1, side, side); "
        "apply `calibration.json` to the `logits`, then `thresholds.json`.",
    ]  # fmt: skip
