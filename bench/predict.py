"""Benchmark: `cxr predict`'s path on the CPU: one image (with and without GradCAM), and batches.

Loads ``data/model/best.pt`` (with its thresholds and calibration, as ``cxr
predict`` does) and the demo test PNGs. Single-image figures are the whole
path a user waits for: read and preprocess the file, forward pass, and for
the CAM one GradCAM map and its overlay; medians of ``--repeats`` after one
warm-up. Throughput: ``--batch`` images per forward pass, preprocessing
included.

Usage: ``python bench/predict.py [--repeats 20] [--batch 32] [--threads 2]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cxr.explain.gallery import Cell, overlay
from cxr.inference import Predictor
from cxr.views import Views

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = Predictor.load(ROOT / "data/model/best.pt")
    index = pd.read_parquet(ROOT / "data/processed/test.parquet", columns=["path"])
    files = [ROOT / "data/raw/demo" / p for p in index.path]

    def one(path: Path, cam: bool) -> None:
        image = predictor.prepare(path)
        probs = predictor.probabilities(image)[0]
        if cam:
            k = int(np.argmax(probs))
            m = predictor.cams(image, np.array([k]))[0]
            overlay(Cell(image, m, np.zeros((0, 4)), ""))

    timings = {}
    for cam in (False, True):
        one(files[0], cam)  # warm-up
        seconds = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            one(files[1 + i % (len(files) - 1)], cam)
            seconds.append(time.perf_counter() - t0)
        timings["single_with_cam_ms" if cam else "single_ms"] = round(
            1000 * statistics.median(seconds), 1
        )
    batch = files[: args.batch * 4]
    t0 = time.perf_counter()
    for s in range(0, len(batch), args.batch):
        images = Views.stack([predictor.prepare(f) for f in batch[s : s + args.batch]])
        predictor.probabilities(images, args.batch)
    throughput = len(batch) / (time.perf_counter() - t0)
    result = {
        "arch": predictor.info["model_config"]["arch"],
        "size": predictor.preprocess.size,
        "threads": args.threads,
        **timings,
        "batch": args.batch,
        "batch_images_per_second": round(throughput, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
