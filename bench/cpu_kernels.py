"""Benchmark: what the AVX2 kernel cap (``cxr/cpu_kernels.py``) costs in CPU training speed.

The cap is set when a process starts, so the two settings cannot share a process:
this runs ``bench/train_throughput.py`` in child processes, alternating the native
kernels and the capped ones (``--rounds`` times each, so drift of a shared machine
hits both), and reports the median images/s of each architecture's training step.
On a CPU without AVX-512 both settings run the same kernels.

Usage: ``python bench/cpu_kernels.py`` (about 5 minutes on 2 cores);
results in ``bench/results/cpu_kernels.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxr.cpu_kernels import LEVELS, cap_cpu_kernels  # noqa: E402  (imports nothing heavy)

PROBE = "import torch; print(torch.backends.cpu.get_cpu_capability())"


def child_env(level: str) -> dict[str, str]:
    """This environment without caps of its own, then ``level`` applied as a stage would."""
    env = {k: v for k, v in os.environ.items() if k not in LEVELS["avx2"]}
    env["CXR_CPU_KERNELS"] = level
    cap_cpu_kernels(env)
    return env


def one_run(level: str, archs: str, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "train_throughput.py"),
                "--archs",
                archs,
                "--local-size",
                "48",
                "--workers",
                "0",
                "--steps",
                str(steps),
                "--out",
                str(out),
            ],
            env=child_env(level),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return json.loads(out.read_text())["runs"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="densenet121,dualpath")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/cpu_kernels.json")
    args = parser.parse_args()
    kernels = {
        level: subprocess.run(
            [sys.executable, "-c", PROBE],
            env=child_env(level),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for level in ("native", "avx2")
    }
    runs: dict[str, list[dict]] = {"native": [], "avx2": []}
    for _ in range(args.rounds):
        for level in runs:
            runs[level].append(one_run(level, args.archs, args.steps))
            print(level, json.dumps(runs[level][-1]), flush=True)
    keys = [k for k in runs["native"][0] if k.endswith(("/synthetic", "/end_to_end"))]
    summary = {
        key: {level: round(statistics.median(r[key] for r in runs[level]), 1) for level in runs}
        for key in keys
    }
    for row in summary.values():
        row["avx2_over_native"] = round(row["avx2"] / row["native"], 3)
    result = {"torch_kernels": kernels, "rounds": args.rounds, "images_per_second": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
