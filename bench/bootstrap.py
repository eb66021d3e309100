"""Benchmark: patient bootstrap of AUROC and AUPRC on NIH's official test set, 14 classes.

The images, patients and labels are the real official test list (25,596
images of 2,797 patients, from ../shared/nih); the scores are synthetic (label
plus noise), since no model has seen NIH images here. Times 1,000 resamples
of all 14 classes (both metrics), and the paired comparison of two models
(twice the work), as the median of ``--repeats`` runs.

Usage: ``python bench/bootstrap.py [--resamples 1000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from cxr.evaluation.bootstrap import bootstrap_scores, interval
from cxr.evaluation.compare import paired_difference
from cxr.findings import FINDINGS
from cxr.nih.label_file import read_label_file
from cxr.nih.split_lists import read_split_list

NIH = Path(__file__).resolve().parents[2] / "shared" / "nih"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (NIH / "Data_Entry_2017_v2020.csv.gz").is_file():
        raise SystemExit(f"needs the real NIH metadata at {NIH}")
    frame = read_label_file(NIH / "Data_Entry_2017_v2020.csv.gz").frame
    test = frame[frame.image_id.isin(set(read_split_list(NIH / "test_list.txt")))]
    y = test[list(FINDINGS)].to_numpy()
    patients = test.patient_id.to_numpy()
    rng = np.random.default_rng(0)
    a = y + rng.normal(0, 1.2, y.shape)
    b = y + rng.normal(0, 1.1, y.shape)
    single, paired = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        boot = bootstrap_scores(y, a, patients, args.resamples)
        single.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        diff = paired_difference(y, a, b, patients, args.resamples)
        paired.append(time.perf_counter() - t0)
    result = {
        "images": len(y),
        "patients": len(np.unique(patients)),
        "classes": y.shape[1],
        "resamples": args.resamples,
        "cores": os.cpu_count(),
        "bootstrap_seconds": round(statistics.median(single), 2),
        "paired_seconds": round(statistics.median(paired), 2),
        "mean_auroc_interval": interval(boot.mean_auroc),
        "paired_difference": diff["mean_auroc"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
