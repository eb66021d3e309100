"""Benchmark: the memory a training step needs per image, and what ``model.memory_efficient``
saves and costs.

For each architecture, precision and ``memory_efficient`` setting it runs the
project's training step (``cxr.training.loop.train_step``) at two batch sizes and
reports:

* ``peak_bytes``: the step's peak memory, as ``torch.cuda.max_memory_allocated``
  on CUDA, and as the process's peak resident size on the CPU (each CPU point in a
  fresh process, so one point's peak cannot hide the next);
* ``per_image``: the slope between the two batch sizes, i.e. what each image adds
  (activations, their gradients, the allocator's share), which cancels the
  weights, the optimiser state and the interpreter;
* ``saved_per_image``: the tensors autograd keeps for backward, summed with
  saved-tensor hooks (distinct storages) at the larger batch, per image. Tensors a
  checkpoint keeps as its region's inputs are not seen by these hooks, so compare
  this figure between unchecked models only; ``per_image`` compares all;
* ``images_per_second`` at the larger batch, and ``estimate_gib``, what a GPU would
  need at batch 32, 64 and 128: the model's training state (weights, gradients and
  AdamW's two moments: 16 bytes a parameter) plus ``per_image`` times the batch. It
  leaves out the CUDA context and cuDNN's workspaces (a few hundred MiB).

Usage (CPU): ``python bench/train_memory.py`` (224 px, batches 2 and 4)
Usage (GPU): ``python bench/train_memory.py --batches 16,32``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from synthetic_split import write_split  # bench/, beside this script
from train_throughput import model_config

from cxr.config import TrainConfig
from cxr.device import compute_dtype, pick_device
from cxr.models.registry import build_model
from cxr.training.loop import train_step
from cxr.training.loss import FocalLoss

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def measure(args: argparse.Namespace, batch: int, memory_efficient: bool) -> dict:
    """One point: peak memory, autograd's saved bytes and speed of a step at ``batch``."""
    device = pick_device(args.device)
    dtype = compute_dtype(device, args.precision)
    config = model_config(args.arch, args.local_size)
    config = dataclasses.replace(config, memory_efficient=memory_efficient)
    torch.manual_seed(0)
    model = build_model(config).to(device).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    criterion = FocalLoss().to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        detail = args.detail_size if config.input_views > 1 else 0
        data = write_split(Path(tmp), batch, args.size, detail)
        first = data[list(range(batch))]  # one batch, as the loader makes it
        views, labels = first.views, first.labels

    def step() -> None:
        train_step(model, criterion, views, labels, optimizer, TrainConfig(), generator, dtype)

    saved = _saved_bytes(model, views, dtype, device)
    if device.type == "cuda":
        step()  # the optimiser's state exists from here on, as in training
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    step()
    peak = (
        torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    return {
        "batch": batch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "peak_bytes": peak,
        "saved_bytes": saved,
        "images_per_second": round(batch * args.steps / seconds, 2),
    }


def _saved_bytes(model, views, dtype, device) -> int:
    """Bytes of the distinct storages autograd saves in one forward (then discarded)."""
    from cxr.batches import to_device
    from cxr.device import autocast

    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    views = [to_device(v, device, channels_last=True) for v in views]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(device, dtype):
        out = model(*views)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    del out
    return sum(n for ptr, n in storages.items() if ptr not in weights)


def _point(args: argparse.Namespace, batch: int, memory_efficient: bool) -> dict:
    """:func:`measure` in a fresh process on the CPU (peak RSS is per process)."""
    if pick_device(args.device).type == "cuda":
        return measure(args, batch, memory_efficient)
    command = [
        sys.executable, __file__, "--child", f"{batch},{int(memory_efficient)}",
        "--arch", args.arch, "--size", str(args.size), "--detail-size", str(args.detail_size),
        "--local-size", str(args.local_size), "--precision", args.precision,
        "--device", args.device, "--steps", str(args.steps),
    ]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def row(args: argparse.Namespace, batches: list[int], memory_efficient: bool) -> dict:
    points = [_point(args, b, memory_efficient) for b in batches]
    return {
        "arch": args.arch,
        "precision": args.precision,
        "memory_efficient": memory_efficient,
        "size": args.size,
        "detail_size": args.detail_size if "detail" in args.arch else 0,
        "points": points,
        **summary(points),
    }


def summary(points: list[dict]) -> dict:
    """What two points (small and large batch) say: the per-image slope, autograd's saved
    bytes per image, speed, and the GPU estimate at batch 32, 64 and 128."""
    small, large = points
    per_image = (large["peak_bytes"] - small["peak_bytes"]) / (large["batch"] - small["batch"])
    state = 16 * large["parameters"]  # fp32 weights, gradients, AdamW's two moments
    return {
        "per_image_mib": round(per_image / MIB, 1),
        "fixed_mib": round((small["peak_bytes"] - per_image * small["batch"]) / MIB, 1),
        "saved_per_image_mib": round(large["saved_bytes"] / large["batch"] / MIB, 1),
        "images_per_second": large["images_per_second"],
        "parameters": large["parameters"],
        "estimate_gib": {str(b): round((state + per_image * b) / 2**30, 1) for b in (32, 64, 128)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="densenet121,dualpath,dualpath-detail")
    parser.add_argument("--arch", default="densenet121", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--detail-size", type=int, default=448)
    parser.add_argument("--local-size", type=int, default=0, help="dual path crop side")
    parser.add_argument("--batches", default=None, help="two sizes; default 2,4 on the CPU")
    parser.add_argument("--precisions", default="auto,fp32")
    parser.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per point")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "memory.json")
    args = parser.parse_args()
    if args.child:
        batch, efficient = (int(v) for v in args.child.split(","))
        print(json.dumps(measure(args, batch, bool(efficient))))
        return
    device = pick_device(args.device)
    batches = [
        int(b) for b in (args.batches or ("16,32" if device.type == "cuda" else "2,4")).split(",")
    ]
    rows = []
    for arch in args.archs.split(","):
        for precision in args.precisions.split(","):
            for efficient in (False, True):
                point = argparse.Namespace(**{**vars(args), "arch": arch, "precision": precision})
                rows.append(row(point, batches, efficient))
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "points"}), flush=True)
    results = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "peak": "max_memory_allocated" if device.type == "cuda" else "peak RSS per process",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
