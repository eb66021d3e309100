"""What dilating dense block 4 (``model.dilated``) costs a DenseNet121 training step.

Both layouts in one process, their steps interleaved (the 2-core machines are noisy, so
only a comparison within one run means anything): bf16 autocast where the CPU has it, as
``model.precision: auto`` trains, channels_last, AdamW, the demo's 64-px input. PyTorch's
kernels are this CPU's own, as the train stage's are on a CPU with native bf16.

Usage: ``python bench/dilation.py [--size 64] [--batch 32] [--repeats 6]`` (JSON on stdout)
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from cxr.config import ModelConfig
from cxr.device import autocast, compute_dtype, place
from cxr.models.registry import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    cpu = torch.device("cpu")
    dtype = compute_dtype(cpu)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 1, args.size, args.size).contiguous(
        memory_format=torch.channels_last
    )
    y = (torch.rand(args.batch, 14) < 0.2).float()
    runs = {}
    for dilated in (False, True):
        model = place(build_model(ModelConfig(dilated=dilated)).train(), cpu)
        runs[dilated] = (model, torch.optim.AdamW(model.parameters(), 1e-3))

    def step(dilated: bool) -> None:
        model, optimiser = runs[dilated]
        with autocast(cpu, dtype):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    seconds: dict[bool, list[float]] = {False: [], True: []}
    for dilated in (False, True):  # warm-up
        step(dilated)
        step(dilated)
    for _ in range(args.repeats):
        for dilated in (False, True):
            t0 = time.perf_counter()
            for _ in range(3):
                step(dilated)
            seconds[dilated].append((time.perf_counter() - t0) / 3)
    median = {d: sorted(s)[len(s) // 2] for d, s in seconds.items()}
    print(json.dumps({
        "size": args.size, "batch": args.batch, "precision": str(dtype),
        "undilated_images_per_s": round(args.batch / median[False], 1),
        "dilated_images_per_s": round(args.batch / median[True], 1),
        "dilated_over_undilated": round(median[False] / median[True], 3),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
