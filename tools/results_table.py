"""Print docs/results.md's per-class table and headline sentences from the committed reports.

Reads ``reports/evaluation.json``, ``reports/localisation.json`` and
``reports/test_confusion.csv`` (what ``dvc repro`` wrote), so the results page
is rewritten from the run it describes, never typed by hand.

Usage: ``python -m tools.results_table`` (markdown on stdout)
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cxr.numbers import with_interval
from cxr.report.markdown import table

ROOT = Path(__file__).resolve().parents[1]


def _ci(value: float, bounds: dict, digits: int = 3) -> str:
    return with_interval(value, bounds, digits)


def main() -> None:
    evaluation = json.loads((ROOT / "reports/evaluation.json").read_text())
    local = json.loads((ROOT / "reports/localisation.json").read_text())
    confusion = pd.read_csv(ROOT / "reports/test_confusion.csv").set_index("finding")
    test, ece = evaluation["test"], evaluation["calibration"]["test"]["ece"]
    rows = []
    for name, auroc in test["auroc"].items():
        per = local["per_class"].get(name, {})
        box = [
            with_interval(per[k]["value"], per[k], 2) if k in per else ""
            for k in ("pointing", "iou_0.25")
        ]
        random, random_iou = (
            f"{per[k]['value']:.2f}" if k in per else ""
            for k in ("random_pointing", "random_iou_0.25")
        )
        c = confusion.loc[name]
        rows.append(
            [
                name, str(test["positives"][name]), _ci(auroc, test["ci"]["auroc"][name]),
                f"{test['auprc'][name]:.3f}", f"{ece[name]:.3f}",
                *(str(int(c[k])) for k in ("TP", "FP", "FN")),
                box[0], random, box[1], random_iou,
            ]
        )  # fmt: skip
    header = [
        "finding", "positives", "AUROC (95% CI)", "AUPRC", "ECE", "TP", "FP", "FN",
        "pointing (95% CI)", "random maps", "IoU > 0.25 (95% CI)", "random maps",
    ]  # fmt: skip
    print(table(header, rows))
    ci = test["ci"]
    val = evaluation["val"]
    print(
        f"Macro mean AUROC {_ci(test['mean_auroc'], ci['mean_auroc'])}, validation "
        f"{_ci(val['mean_auroc'], val['ci']['mean_auroc'])}; macro mean AUPRC "
        f"{_ci(test['mean_auprc'], ci['mean_auprc'])}; mean ECE "
        f"{evaluation['calibration']['test']['mean_ece']:.3f} (uncalibrated "
        f"{evaluation['calibration']['test']['mean_ece_uncalibrated']:.3f}); "
        f"{test['images']} test images of {test['patients']} patients."
    )
    mean = local.get("mean", {})
    if mean:

        def fig(name: str) -> str:
            return with_interval(mean[name]["value"], mean[name], 2)

        print(
            f"Pointing game over {local['cases']} boxed cases of {local['patients']} patients: "
            f"{fig('pointing')} against {fig('random_pointing')} for random maps (gain "
            f"{fig('pointing_gain')}); mean best IoU {fig('mean_iou')}, random "
            f"{mean['random_mean_iou']['value']:.2f}."
        )


if __name__ == "__main__":
    main()
