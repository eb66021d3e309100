"""A random uint8 ``train`` split on disk (memmap, index, and optionally a detail array),
laid out as preprocess writes one: what the loader and training benchmarks read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxr.batches import SplitArrays
from cxr.findings import FINDINGS


def write_split(folder: Path, rows: int, size: int, detail_size: int = 0) -> SplitArrays:
    """``rows`` random images of ``size`` px (and ``detail_size`` px detail rows, if not 0)
    with labels of 10-36% prevalence, opened as :class:`SplitArrays`."""
    rng = np.random.default_rng(0)
    names = {"train.npy": size, **({"train_detail.npy": detail_size} if detail_size else {})}
    for name, side in names.items():
        array = np.lib.format.open_memmap(folder / name, "w+", np.uint8, (rows, side, side))
        for s in range(0, rows, 512):
            array[s : s + 512] = rng.integers(0, 256, (min(512, rows - s), side, side), np.uint8)
        array.flush()
    index = pd.DataFrame({"row": np.arange(rows), "image_id": [str(i) for i in range(rows)]})
    for k, name in enumerate(FINDINGS):
        index[name] = (rng.random(rows) < 0.1 + 0.02 * k).astype(np.uint8)
    index.to_parquet(folder / "train.parquet")
    return SplitArrays(folder, "train", 2 if detail_size else 1)
