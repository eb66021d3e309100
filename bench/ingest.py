"""Benchmark: ingest of the full 112,120-row NIH label file (parse, official split, file index).

Uses ../shared/nih (the real metadata and its 77-image sample folder, so the
other 112,043 images are listed as missing, the worst case for bookkeeping).
Prints seconds for the label file alone and for the whole ingest, the median of
``--repeats`` runs.

Usage: ``python bench/ingest.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from cxr.config import IngestConfig
from cxr.ingest import ingest
from cxr.nih.label_file import read_label_file

NIH = Path(__file__).resolve().parents[2] / "shared" / "nih"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    label_file = NIH / "Data_Entry_2017_v2020.csv.gz"
    if not label_file.is_file():
        raise SystemExit(f"needs the real NIH metadata at {NIH}")
    config = IngestConfig(
        raw_dir=str(NIH / "sample"),
        label_file=str(label_file),
        split="official",
        train_val_list=str(NIH / "train_val_list.txt"),
        test_list=str(NIH / "test_list.txt"),
    )
    parse, whole, patient = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        rows = len(read_label_file(label_file).frame)
        parse.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ingest(config)
        whole.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ingest(
            IngestConfig(raw_dir=str(NIH / "sample"), label_file=str(label_file), split="patient")
        )
        patient.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "rows": rows,
                "label_file_seconds": round(statistics.median(parse), 2),
                "ingest_official_seconds": round(statistics.median(whole), 2),
                "ingest_patient_seconds": round(statistics.median(patient), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
