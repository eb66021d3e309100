"""The export's ONNX graph per architecture: how long torch.export takes, whether ONNX
Runtime agrees with PyTorch at a batch the graph was not traced with (the batch axis is
dynamic), and how fast each runs on this CPU. Too slow for the test suite (the dual path
takes about 30 s to export on 2 cores); ``tests/test_export.py`` covers the default model.

    python bench/export.py [--size 64] [--batch 16] [--archs densenet121,dualpath,...]

Prints one JSON line per architecture (random weights: the agreement and the timings do
not depend on them).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cxr.config import ModelConfig
from cxr.evaluation.predict import ForwardPass
from cxr.export.graph import Graph, export_onnx
from cxr.models.registry import build_model
from cxr.views import Views

CONFIGS = {
    "densenet121": ModelConfig(arch="densenet121", weights="none"),
    "resnet50": ModelConfig(arch="resnet50", weights="none"),
    "dualpath": ModelConfig(arch="dualpath", weights="none"),
    "dualpath-detail": ModelConfig(arch="dualpath", weights="none", local_detail=True),
}


def measure(name: str, size: int, batch: int) -> dict:
    torch.manual_seed(0)
    model = build_model(CONFIGS[name]).eval()
    sides = (size, 2 * size)[: model.input_views]
    rng = np.random.default_rng(0)
    views = Views(*(rng.integers(0, 256, (batch, s, s), np.uint8) for s in sides))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        t0 = time.perf_counter()
        export_onnx(model, sides, path)
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        graph = Graph(path).logits(views, batch)
        onnx_ms = 1000 * (time.perf_counter() - t0) / batch
        megabytes = path.stat().st_size / 2**20
    run = ForwardPass(model, torch.device("cpu"), torch.float32, batch)
    run.logits(views.take(slice(0, 2)))  # warm up
    t0 = time.perf_counter()
    ours = run.logits(views)
    torch_ms = 1000 * (time.perf_counter() - t0) / batch
    return {
        "arch": name, "size": size, "batch": batch, "export_seconds": round(seconds, 1),
        "onnx_megabytes": round(megabytes, 1),
        "max_abs_logit_difference": float(np.abs(graph - ours).max()),
        # ONNX Runtime's time includes creating its session, as one `cxr check-export` does
        "onnxruntime_ms_per_image_with_session": round(onnx_ms, 2),
        "torch_fp32_ms_per_image": round(torch_ms, 2),
        "threads": torch.get_num_threads(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--archs", default=",".join(CONFIGS))
    args = parser.parse_args()
    for name in args.archs.split(","):
        print(json.dumps(measure(name, args.size, args.batch)), flush=True)


if __name__ == "__main__":
    main()
