"""Benchmark: preprocess throughput (1024-px PNG -> 224 px with CLAHE) against bare PNG decoding.

Reads the real NIH 1024x1024 PNGs of ../shared/nih/sample (or renders 1024-px
demo phantoms when that folder is absent), repeats them to ``--images`` reads,
and measures in images/s:

* bare decode: ``cv2.imread`` of each file, one core, and across all cores;
* preprocess: the stage's own path (read, decode, gray, area resize to 256,
  CLAHE, area resize to the output size, write into the memmap), one worker and all workers.

Each figure is the median of ``--repeats`` interleaved runs: the machines are
noisy, so only figures of the same run are compared.

Usage: ``python bench/preprocess.py [--images 600] [--repeats 3] [--size 224]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cxr.config import PreprocessConfig
from cxr.parallel import worker_count
from cxr.preprocess import preprocess_split

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "nih" / "sample" / "images"


def _full_size_pngs(tmp: Path) -> tuple[list[Path], str]:
    real = (
        [
            p
            for p in sorted(SAMPLE.glob("*.png"))
            if cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape[:2] == (1024, 1024)
        ]
        if SAMPLE.is_dir()
        else []
    )
    if real:
        return real, f"{len(real)} real NIH 1024x1024 PNGs from {SAMPLE}"
    from cxr.config import DemoConfig
    from cxr.demo.generate import generate_demo

    generate_demo(tmp / "demo", DemoConfig(images=40, size=1024, seed=0))
    return sorted(
        (tmp / "demo" / "images").glob("*.png")
    ), "40 demo phantoms of 1024 px (NIH sample absent)"


def _decode(path: str) -> int:
    return int(cv2.imread(path, cv2.IMREAD_UNCHANGED).shape[0])


def _init_decoder() -> None:
    cv2.setNumThreads(1)


def bare_decode(paths: list[str], workers: int) -> float:
    t0 = time.perf_counter()
    if workers == 1:
        _init_decoder()
        for p in paths:
            _decode(p)
    else:
        # Worker start-up is counted, as it is in the stage's own figure.
        with mp.get_context("spawn").Pool(workers, initializer=_init_decoder) as pool:
            list(pool.imap_unordered(_decode, paths, chunksize=16))
    return len(paths) / (time.perf_counter() - t0)


def stage_path(files: list[Path], raw: Path, size: int, workers: int, out: Path) -> float:
    meta = pd.DataFrame(
        {
            "image_id": [f"{i}" for i in range(len(files))],
            "path": [str(f.relative_to(raw)) for f in files],
            "split": "train",
        }
    )
    t0 = time.perf_counter()
    preprocess_split(
        meta, raw, out, PreprocessConfig(size=size, workers=workers), desc=f"{workers} worker(s)"
    )
    return len(files) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "preprocess.json")
    args = parser.parse_args()
    cores = worker_count(0)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pngs, source = _full_size_pngs(tmp)
        # Copies, so each read is a distinct file as in a real data set.
        raw = tmp / "raw"
        (raw / "images").mkdir(parents=True)
        files = []
        for i in range(args.images):
            dst = raw / "images" / f"{i:06d}.png"
            shutil.copy(pngs[i % len(pngs)], dst)
            files.append(dst)
        paths = [str(f) for f in files]
        bare_decode(paths, 1)  # warm the page cache
        runs: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            for name, fn in (
                ("decode_1_core", lambda: bare_decode(paths, 1)),
                (
                    "preprocess_1_worker",
                    lambda: stage_path(files, raw, args.size, 1, tmp / "a.npy"),
                ),
                (f"decode_{cores}_cores", lambda: bare_decode(paths, cores)),
                (
                    f"preprocess_{cores}_workers",
                    lambda: stage_path(files, raw, args.size, cores, tmp / "b.npy"),
                ),
            ):
                runs.setdefault(name, []).append(fn())
    results = {
        "source": source,
        "images": args.images,
        "repeats": args.repeats,
        "size": args.size,
        "cores": cores,
        **{name: round(float(np.median(v)), 1) for name, v in runs.items()},
    }
    results["time_ratio_1_core"] = round(
        results["decode_1_core"] / results["preprocess_1_worker"], 3
    )
    results[f"time_ratio_{cores}_cores"] = round(
        results[f"decode_{cores}_cores"] / results[f"preprocess_{cores}_workers"], 3
    )
    results["scaling_preprocess"] = round(
        results[f"preprocess_{cores}_workers"] / results["preprocess_1_worker"], 2
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
