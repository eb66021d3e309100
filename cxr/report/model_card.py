"""The model card (Mitchell et al. 2019): what the model is for, what it saw, where it fails."""

from __future__ import annotations

from cxr.findings import FINDINGS
from cxr.models.checkpoint import ModelRecord
from cxr.numbers import number, with_interval
from cxr.report.anchors import SPLIT_NAMES


def _weakest_groups(subgroups: dict) -> list[str]:
    """Per attribute, the groups with the lowest and highest mean AUROC, each with its
    interval and the findings its mean covers (groups of 30+ images whose interval rests on
    enough resamples; the others are named as not ranked, with why)."""
    out = []
    for attribute, groups in subgroups.items():
        sized = {
            g: v
            for g, v in groups.items()
            if v["images"] >= 30 and v["mean_auroc"] is not None and g != "unknown"
        }
        withheld = {g: v["ci"]["mean_auroc"]["withheld"] for g, v in sized.items()
                    if v.get("ci", {}).get("mean_auroc", {}).get("withheld")}  # fmt: skip
        scored = {g: v for g, v in sized.items() if g not in withheld}
        if len(scored) >= 2:
            worst = min(scored, key=lambda g: scored[g]["mean_auroc"])
            best = max(scored, key=lambda g: scored[g]["mean_auroc"])
            out.append(f"- {attribute}: lowest {_group(worst, scored[worst])}; "
                       f"highest {_group(best, scored[best])}")  # fmt: skip
        out += [
            f"- {attribute} {g}: not ranked, no interval ({why})" for g, why in withheld.items()
        ]
    return out


def _group(name: str, figures: dict) -> str:
    ci = figures.get("ci", {}).get("mean_auroc")
    return (f"{name}, {with_interval(figures['mean_auroc'], ci)} over "
            f"{figures['classes_in_mean']} findings")  # fmt: skip


def environment_lines(environment: dict | None) -> list[str]:
    """The training environment a checkpoint recorded (``cxr.environment.describe``)."""
    if not environment:
        return ["- Not recorded (a checkpoint from before cxr recorded its environment)"]
    env = {k: "?" if v is None else v for k, v in environment.items()}
    device = env.get("device", "?")
    if environment.get("gpu"):
        device = f"{device}, {env['gpu']} (CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')})"
    packages = ", ".join(f"{k} {v or '-'}" for k, v in env.get("packages", {}).items())
    simd = " ".join(environment.get("numpy_simd") or []) or "baseline"
    return [
        f"- Python {env.get('python', '?')} on {env.get('os', '?')}",
        f"- Device: {device}; torch built with CUDA {env.get('cuda', '?')}",
        f"- CPU: {env.get('cpu', '?')}, {env.get('cpu_cores', '?')} cores; kernels: torch "
        f"{env.get('torch_cpu_capability', '?')} on {env.get('torch_threads', '?')} threads, "
        f"numpy {simd}",
        f"- Libraries: {packages or '?'}",
        "- The same versions: `pip install -c requirements-lock.txt -e .` (docs/environment.md)",
    ]


def model_card_markdown(metrics: dict, ingest: dict, model: ModelRecord, data_source: str) -> str:
    """The card of the evaluated checkpoint, from the evaluate and ingest metrics."""
    synthetic = "demo" in data_source.lower()
    sources = trained_on(ingest)
    lines = [
        "# Model card",
        "",
        "## Model",
        "",
        f"- Architecture: `{model.model_config.arch}` (see `docs/model.md`); "
        f"{len(FINDINGS)} sigmoid outputs, one per NIH ChestX-ray14 finding, trained with "
        "focal loss",
        f"- Initial weights: {model.weights_used}; checkpoint of epoch {model.epoch} "
        "(best validation mean AUROC)",
        f"- Input: one grey channel, {model.preprocess.size} px square (aspect kept, CLAHE), "
        "exactly the preprocessing stored in the checkpoint",
        f"- Calibration: {metrics['calibration']['method']} (fitted on validation); decision "
        f"thresholds: {metrics['threshold_policy']} on validation "
        "(`data/model/thresholds.json`)",
        "",
        "## Training environment",
        "",
        *environment_lines(model.environment),
        "",
        "## Intended use",
        "",
        "- Research on multi-label chest X-ray classification: comparing training set-ups, "
        "studying failure modes and explanations on NIH ChestX-ray14 and data in its layout.",
        "- **Not** a medical device and not for diagnosis, triage or any decision about a "
        "patient. It has not been validated prospectively, on other hospitals' images, or "
        "against radiologists for most findings.",
        "",
        "## Data",
        "",
        f"- {data_source}; label file `{ingest['label_file']['name']}` "
        f"(sha256 `{ingest['label_file']['sha256'][:16]}...`)",
        f"- {SPLIT_NAMES.get(ingest['split_mode'], ingest['split_mode'])}: "
        + ", ".join(
            f"{k} {v['images']} images / {v['patients']} patients"
            for k, v in ingest["splits"].items()
        ),
        *_source_lines(ingest.get("sources") or {}),
        "",
        *_performance(metrics, pooled=len(sources) > 1),
        *_limitations(synthetic, sources),
    ]
    return "\n".join(lines)


def trained_on(ingest: dict) -> list[str]:
    """The sources a model's training saw (``ingest.sources``); ``[]`` for NIH's layout alone."""
    return [n for n, s in (ingest.get("sources") or {}).items() if s["role"] == "trained on"]


def _source_lines(sources: dict) -> list[str]:
    if not sources:
        return []
    return [
        "- Several sources, each split by its own patients; a finding a source does not "
        "label is unknown in its films and masked out of the loss (docs/sources.md):",
        *[f"  - `{name}` ({s['format']}, {s['role']}): {s['images']} images / "
          f"{s['patients']} patients" for name, s in sources.items()],
    ]  # fmt: skip


def _performance(metrics: dict, pooled: bool) -> list[str]:
    test = metrics["test"]
    ci = test.get("ci", {})
    defined = {n: v for n, v in test["auroc"].items() if v is not None}
    weakest = sorted(defined, key=defined.get)[:3]
    groups = _weakest_groups(metrics["subgroups"])
    return [
        f"## Performance (test split{' of the sources trained on, pooled' if pooled else ''})",
        "",
        f"- Mean AUROC {with_interval(test['mean_auroc'], ci.get('mean_auroc'))}, mean AUPRC "
        f"{with_interval(test['mean_auprc'], ci.get('mean_auprc'))} (95% patient-bootstrap "
        "intervals); per finding in `reports/evaluation.md`",
        "- Weakest findings: "
        + ", ".join(
            f"{n} {with_interval(defined[n], ci.get('auroc', {}).get(n))}" for n in weakest
        ),
        f"- Mean calibration error {number(metrics['calibration']['test']['mean_ece'])}",
        *(["- Subgroups (mean AUROC):", *[f"  {g}" for g in groups]] if groups else []),
        *_held_out_lines(metrics.get("held_out")),
        "",
    ]


def _held_out_lines(held: dict | None) -> list[str]:
    """The source no training step saw, and its drop (``reports/evaluation.md``)."""
    if not held:
        return []
    return [
        f"- Held out of training: `{held['source']}` ({held['test']['images']} test images): "
        f"mean AUROC {number(held['held_out_mean_auroc'])} against "
        f"{number(held['trained_on_mean_auroc'])} on the sources trained on, over the "
        f"{len(held['findings'])} findings both score; a drop of "
        f"{with_interval(held['drop'], held.get('ci'))}"
    ]


def _limitations(synthetic: bool, sources: list[str]) -> list[str]:
    origin = (
        f"Trained on {len(sources)} sources ({', '.join(sources)}), whose labellers and "
        "label habits differ; the pooled figures hide which source a film came from (per "
        "source: `reports/evaluation.md`)"
        if len(sources) > 1
        else "One institution (NIH Clinical Center), 1992-2015 scanners"
    )
    return [
        "## Limitations",
        "",
        *(
            [
                "- These figures are from the **synthetic demo data** (phantoms with drawn "
                "findings): they show that the pipeline learns and explains, nothing about "
                "real radiographs.",
            ]
            if synthetic
            else []
        ),
        "- NIH ChestX-ray14 labels were text-mined from reports, not read from the images; "
        "independent reviews found many of them wrong for several findings, and the 2020 "
        "label file changed test labels. A score against them measures agreement with the "
        "text-mining as much as with the disease; where Google's 2019 radiologist labels are "
        "present, `reports/evaluation.md` scores against those too.",
        f"- {origin}, frontal views only; no lateral views, no prior studies, no clinical context.",
        "- AP films come mostly from sicker, often supine in-patients, so view position, "
        "devices and tubes correlate with findings: a model can learn these shortcuts. "
        "See the AP/PA subgroup rows.",
        "- GradCAM maps are coarse (one value per feature-map cell) and show what raised a "
        "logit, not where disease is; their localisation is measured in "
        "`reports/localisation.md` against a random-map control.",
        "- Thresholds and calibration were fitted on one validation split; prevalence "
        "elsewhere differs, and so will PPV.",
        "",
    ]
