"""Benchmark: the pipeline at scale on NIH-resolution images, memory at two sizes.

For each ``--images`` count it makes a demo data set of 1,024 x 1,024 PNGs
(NIH's resolution; anatomy drawn at ``--render-size`` and resized before the
film noise, see docs/demo-data.md) in its own folder under ``--workdir`` and
runs the real stage commands there (``python -m stages.<name>``), one at a
time: ``demo``, ``ingest``, ``preprocess`` at 224 px (the NIH profile),
``preprocess`` again at ``--train-size`` and one epoch of ``train`` on those
arrays (224 px is out of reach of a 2-core CPU: about 3 img/s).

Per stage it records wall time, the kernel's peak RSS of the stage process
(``wait4``; includes pages of memory-mapped files) and, sampled every 0.1 s
over the process and its workers, the peak of anonymous memory (PSS, so
pages shared by forked workers count once) and of all memory (PSS): the
anonymous peak is what a run needs; mapped array pages are page cache the
kernel can drop. It also records disk use, then fits time = a + b * images
through the two sizes and extrapolates to NIH's 112,120 images.

Usage: ``python bench/scale.py [--images 5000,20000] [--workdir /tmp/cxr-scale]``
(about 50 minutes on 2 cores for the default sizes; needs about 6 GB of disk).
Writes ``bench/results/scale_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

NIH_IMAGES = 112_120
RESULTS = Path(__file__).resolve().parent / "results" / "scale_cpu.json"
MIB = 2**20


def _params(images: int, size: int, render_size: int, prep_size: int, arch: str) -> str:
    return f"""
demo: {{images: {images}, size: {size}, render_size: {render_size}, seed: 0, workers: 0}}
ingest: {{raw_dir: data/raw/demo, split: patient, seed: 0}}
preprocess: {{size: {prep_size}, workers: 0}}
model: {{arch: {arch}, weights: none}}
train: {{epochs: 1, device: cpu}}
"""


def _rollup(pid: int) -> tuple[int, int, int]:
    """(Pss_Anon, Pss, Rss) of one process in bytes; zeros once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0, 0
    fields = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        fields[key] = int(rest.split()[0]) * 1024
    return fields.get("Pss_Anon", 0), fields.get("Pss", 0), fields.get("Rss", 0)


class TreeSampler(threading.Thread):
    """Peak anonymous and total PSS over a process and all its descendants."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_anon = self.peak_pss = 0
        self.done = threading.Event()

    def run(self) -> None:
        root = psutil.Process(self.pid)
        while not self.done.is_set():
            try:
                pids = [self.pid] + [c.pid for c in root.children(recursive=True)]
            except psutil.Error:
                break
            totals = [_rollup(p) for p in pids]
            self.peak_anon = max(self.peak_anon, sum(t[0] for t in totals))
            self.peak_pss = max(self.peak_pss, sum(t[1] for t in totals))
            time.sleep(self.every)


def run_stage(folder: Path, stage: str) -> dict:
    """Run one stage command in ``folder``; its time and memory peaks."""
    t0 = time.perf_counter()
    with open(folder / f"{stage}.log", "a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"stages.{stage}"], cwd=folder, stdout=log, stderr=log
        )
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        sampler.done.set()
        sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{stage} failed in {folder} (exit {proc.returncode}); see its .log")
    return {
        "seconds": round(seconds, 1),
        "peak_anon_mib": round(sampler.peak_anon / MIB),
        "peak_pss_mib": round(sampler.peak_pss / MIB),
        # The largest resident set of any one process of the stage (kilobytes on Linux).
        "max_rss_one_process_mib": round(usage.ru_maxrss * 1024 / MIB),
    }


def disk_mib(path: Path) -> float:
    """Space the files under ``path`` take on disk (allocated blocks)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_blocks * 512 for p in files) / MIB, 1)


def one_size(folder: Path, images: int, args: argparse.Namespace) -> dict:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    params = folder / "params.yaml"

    def write_params(prep_size: int) -> None:
        params.write_text(_params(images, args.size, args.render_size, prep_size, args.arch))

    plan = [  # (result name, stage, array side it preprocesses to)
        ("demo", "demo", 0),
        ("ingest", "ingest", 0),
        ("preprocess_224", "preprocess", 224),
        (f"preprocess_{args.train_size}", "preprocess", args.train_size),
        ("train_1_epoch", "train", 0),
    ]
    write_params(224)
    stages, disk = {}, {}
    for name, stage, prep_size in plan:
        if prep_size:
            write_params(prep_size)
        stages[name] = run_stage(folder, stage)
        print(f"  {images} images, {name}: {stages[name]}", flush=True)
        if prep_size:
            disk[f"processed_{prep_size}"] = disk_mib(folder / "data/processed")
    disk["raw_pngs"] = disk_mib(folder / "data/raw/demo")
    disk["interim"] = disk_mib(folder / "data/interim")
    disk["model"] = disk_mib(folder / "data/model")
    metrics = json.loads((folder / "metrics/train.json").read_text())
    prep = json.loads((folder / "metrics/preprocess.json").read_text())
    if not args.keep:
        shutil.rmtree(folder)
    return {
        "images": images,
        "split_images": {k: v["images"] for k, v in prep["splits"].items()},
        "preprocess_rejected": prep.get("rejected"),
        "train_metrics": metrics,
        "stages": stages,
        "disk_mib": disk,
    }


def extrapolate(runs: list[dict], target: int) -> dict:
    """Linear fit of seconds and disk through the two sizes; memory as measured."""
    small, large = runs[0], runs[-1]
    dn = large["images"] - small["images"]
    out: dict = {"images": target, "seconds": {}, "disk_mib": {}, "memory_slope_mib_per_10k": {}}
    for stage, big in large["stages"].items():
        per_image = (big["seconds"] - small["stages"][stage]["seconds"]) / dn
        fixed = big["seconds"] - per_image * large["images"]
        out["seconds"][stage] = round(fixed + per_image * target)
        for key in ("peak_anon_mib", "max_rss_one_process_mib"):
            slope = (big[key] - small["stages"][stage][key]) / dn * 10_000
            out["memory_slope_mib_per_10k"][f"{stage}.{key}"] = round(slope, 1)
    for what, mib in large["disk_mib"].items():
        # Checkpoints do not grow with the data; everything else is per image.
        out["disk_mib"][what] = mib if what == "model" else round(mib / large["images"] * target)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="5000,20000", help="comma-separated counts")
    parser.add_argument("--size", type=int, default=1024, help="PNG side (NIH: 1024)")
    parser.add_argument("--render-size", type=int, default=256)
    parser.add_argument("--train-size", type=int, default=64, help="array side for the epoch")
    parser.add_argument("--arch", default="dualpath")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cxr-scale"))
    parser.add_argument("--keep", action="store_true", help="keep each size's folder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    counts = sorted(int(n) for n in args.images.split(","))
    runs = []
    for images in counts:
        print(f"{images} images of {args.size} px", flush=True)
        runs.append(one_size(args.workdir / str(images), images, args))
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
        },
        "size": args.size,
        "render_size": args.render_size,
        "train_size": args.train_size,
        "arch": args.arch,
        "runs": runs,
        "extrapolated": extrapolate(runs, NIH_IMAGES) if len(runs) > 1 else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
