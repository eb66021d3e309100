"""Benchmark: training images/s per architecture, on synthetic device tensors and end to end.

For each architecture and precision setting it measures, interleaved and as
medians of ``--repeats`` timings of ``--steps`` steps each:

* ``synthetic``: the project's own training step (``cxr.training.loop.train_step``:
  augmentation on the device, forward, focal loss, backward, AdamW) on a uint8
  batch already on the device;
* ``end_to_end``: the same step fed by the real input pipeline: a uint8 memmap
  split on disk, the batch sampler, ``--workers`` loader processes, pinned memory
  and non-blocking copies;
* ``loop``: the training loop itself (``cxr.training.loop.train_one_epoch``: one
  short epoch of ``--steps`` batches through the same loader, with its loss
  bookkeeping, checks and progress bar), what ``dvc repro`` runs: its ratio to
  ``end_to_end`` is what the loop adds to the bare step;
* ``bare_torchvision``: a bare torchvision DenseNet121 step (3-channel float
  input, BCE, AdamW) in the same precision, the reference the ``densenet121``
  arch should be within 10% of.

Precision settings: ``fp32``; ``bf16+cl`` (autocast and channels_last) on CUDA and
on a CPU with native bf16 (``cxr.device.cpu_has_bf16``: what ``model.precision:
auto`` picks there); on CUDA also ``bf16`` (no channels_last) and
``bf16+cl+compile``. The bare reference runs under every setting; the project's
step, always channels_last, under ``fp32``, ``bf16+cl`` and ``bf16+cl+compile``.

``--archs`` takes architectures and the dual path's ablations:
``densenet121``, ``resnet50``, ``dualpath``, ``dualpath-detail`` (the local path
crops from a ``--detail-size`` array), ``densenet121-me`` and ``dualpath-me``
(``model.memory_efficient``), ``dualpath-local`` (no local path),
``dualpath-cbam`` and ``dualpath-fpn``; ``--local-size`` is the dual path's
crop side (0: the input side, as AG-CNN; the CPU demo uses 48).

Usage (GPU): ``python bench/train_throughput.py --size 224 --batch 128 --workers 2``
Usage (CPU): ``python bench/train_throughput.py`` (64 px, batch 32, few steps)
Ablations (CPU): ``python bench/train_throughput.py --archs
densenet121,dualpath,dualpath-local,dualpath-cbam,dualpath-fpn --local-size 48 --workers 0``
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from synthetic_split import write_split  # bench/, beside this script

from cxr.batches import EpochBatches, SplitArrays, loader
from cxr.config import ModelConfig, TrainConfig
from cxr.device import cpu_has_bf16, pick_device
from cxr.models.registry import build_model
from cxr.training.loop import train_one_epoch, train_step
from cxr.training.loss import FocalLoss
from cxr.training.optim import Schedule

ROOT = Path(__file__).resolve().parents[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(run_steps, steps: int, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    run_steps(steps)
    _sync(device)
    return time.perf_counter() - t0


#: Benchmark names of the dual path with one part switched off.
ABLATIONS = {
    "local": {"local_path": False},
    "cbam": {"cbam": False},
    "fpn": {"fpn": False},
    "detail": {"local_detail": True},  # not an ablation: the close look at the detail array
    "me": {"memory_efficient": True},  # not an ablation: checkpointed DenseNet layers
}


def model_config(name: str, local_size: int) -> ModelConfig:
    """``densenet121``, ``resnet50``, ``dualpath`` or ``dualpath-<part>`` (that part switched
    off, or ``detail``: cropping from the detail array); ``<arch>-me``: that arch with
    ``memory_efficient``."""
    arch, _, off = name.partition("-")
    extra = ABLATIONS[off] if off else {}
    if arch == "dualpath":
        extra = {**extra, "local_size": local_size}
    return ModelConfig(arch=arch, weights="none", **extra)


def project_steps(
    config: ModelConfig,
    precision: str,
    device: torch.device,
    batch: int,
    data: SplitArrays,
    workers: int,
):
    """Runners ``synthetic``, ``end_to_end`` and ``loop`` for the project's model, step and
    loop."""
    model = build_model(config).to(device).to(memory_format=torch.channels_last)
    data = SplitArrays(data.path.parent, "train", config.input_views)  # read what it uses
    net = torch.compile(model) if "compile" in precision else model
    config = TrainConfig(batch_size=batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    criterion = FocalLoss.for_labels(data.labels, config.focal_gamma, "pos_weight").to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    fixed_views = [
        torch.randint(0, 256, (batch, 1, side, side), dtype=torch.uint8, device=device)
        for side in data.sides
    ]
    fixed_labels = torch.from_numpy(data.labels[:batch]).to(device)
    model.train()
    dtype = torch.bfloat16 if "bf16" in precision else torch.float32

    def synthetic(steps: int) -> None:
        for _ in range(steps):
            train_step(net, criterion, fixed_views, fixed_labels, optimizer, config, gen, dtype)

    sampler = EpochBatches(len(data), batch, seed=0, shuffle=True, drop_last=True)
    batches = loader(data, sampler, workers, pin_memory=device.type == "cuda")
    stream = iter(())

    def end_to_end(steps: int) -> None:
        nonlocal stream
        for _ in range(steps):
            try:
                batch = next(stream)
            except StopIteration:
                sampler.set_epoch(sampler.epoch + 1)
                stream = iter(batches)
                batch = next(stream)
            train_step(net, criterion, batch.views, batch.labels, optimizer, config, gen, dtype)

    schedule = Schedule(optimizer, "cosine", 0, 10**6)
    epochs = iter(range(10**6))
    short_epochs: dict = {}  # steps -> (sampler, loader): made once, as fit makes its loader

    def loop(steps: int) -> None:
        if steps not in short_epochs:
            short = EpochBatches(batch * steps, batch, seed=0, shuffle=True, drop_last=True)
            short_epochs[steps] = short, loader(data, short, workers, device.type == "cuda")
        short, batches = short_epochs[steps]
        short.set_epoch(next(epochs))
        train_one_epoch(
            net, criterion, batches, schedule, dataclasses.replace(config, epochs=1), device, 0,
            dtype,
        )  # fmt: skip

    return {"synthetic": synthetic, "end_to_end": end_to_end, "loop": loop}


def bare_steps(precision: str, device: torch.device, batch: int, size: int):
    model = torchvision.models.densenet121(num_classes=14).to(device)
    if "cl" in precision:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if "compile" in precision else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    if "cl" in precision:
        x = x.contiguous(memory_format=torch.channels_last)
    y = (torch.rand(batch, 14, device=device) < 0.2).float()
    use_bf16 = "bf16" in precision

    def run(steps: int) -> None:
        for _ in range(steps):
            ctx = (
                torch.autocast(device.type, dtype=torch.bfloat16)
                if use_bf16
                else contextlib.nullcontext()
            )
            with ctx:
                loss = F.binary_cross_entropy_with_logits(net(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="densenet121,dualpath")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:N")
    parser.add_argument("--size", type=int, default=None, help="default: 224 on CUDA, 64 on CPU")
    parser.add_argument("--batch", type=int, default=None, help="default: 128 on CUDA, 32 on CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, default=None, help="images in the memmap")
    parser.add_argument("--precisions", default=None)
    parser.add_argument("--local-size", type=int, default=0, help="dual path crop side")
    parser.add_argument(
        "--detail-size", type=int, default=0, help="detail array side, for dualpath-detail"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "train_throughput.json"
    )
    args = parser.parse_args()
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    bf16 = cpu_has_bf16()
    size = args.size or (224 if cuda else 64)
    batch = args.batch or (128 if cuda else 32)
    steps = args.steps or (20 if cuda else 3)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    precisions = (
        args.precisions
        or ("fp32,bf16,bf16+cl,bf16+cl+compile" if cuda else "fp32,bf16+cl" if bf16 else "fp32")
    ).split(",")
    if "detail" in args.archs and not args.detail_size:
        parser.error("dualpath-detail needs --detail-size (a multiple of --size)")
    rows = args.rows or batch * (steps + warmup) * 2
    if cuda:
        torch.backends.cudnn.benchmark = True
    results: dict = {
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "torch": torch.__version__,
        "size": size,
        "batch": batch,
        "steps": steps,
        "repeats": args.repeats,
        "workers": args.workers,
        "threads": torch.get_num_threads(),
        "local_size": args.local_size,
        "detail_size": args.detail_size,
        "cpu_bf16": bf16,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = write_split(Path(tmp), rows, size, args.detail_size)
        for precision in precisions:
            runners = {"bare_torchvision": bare_steps(precision, device, batch, size)}
            # The project's step is always channels_last: measured only where it runs.
            project = precision in ("fp32", "bf16+cl", "bf16+cl+compile")
            for arch in args.archs.split(",") if project else []:
                config = model_config(arch, args.local_size)
                steps_of = project_steps(config, precision, device, batch, data, args.workers)
                for kind, runner in steps_of.items():
                    runners[f"{arch}/{kind}"] = runner
            for run in runners.values():
                run(warmup)
            times: dict[str, list[float]] = {k: [] for k in runners}
            for _ in range(args.repeats):
                for name, run in runners.items():  # interleaved: the GPUs are noisy
                    times[name].append(batch * steps / _timed(run, steps, device))
            row = {
                "precision": precision,
                **{k: round(statistics.median(v), 1) for k, v in times.items()},
            }
            for arch in args.archs.split(",") if project else []:
                row[f"{arch}/end_to_end_ratio"] = round(
                    row[f"{arch}/end_to_end"] / row[f"{arch}/synthetic"], 3
                )
                row[f"{arch}/loop_ratio"] = round(
                    row[f"{arch}/loop"] / row[f"{arch}/end_to_end"], 3
                )
            if "densenet121/synthetic" in row:
                row["densenet121/vs_bare"] = round(
                    row["densenet121/synthetic"] / row["bare_torchvision"], 3
                )
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
