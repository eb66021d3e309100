"""Benchmark: the training input pipeline at 224 px on the CPU cores, against decoding PNGs.

* ``memmap``: what feeds a GPU: ``--workers`` loader processes read batches of
  rows from a uint8 memmap (``SplitArrays`` + ``EpochBatches``), collate and
  hand them over (pinned when CUDA is present); augmentation then runs on the
  GPU, so it is not part of this figure.
* ``memmap + CPU augmentation``: the same plus ``cxr.training.augment`` on
  the CPU, what a CPU-only run pays.
* with ``--detail-size D``, every batch also carries the rows of a ``D``-px detail
  array (``SplitArrays(views=2)``), what the dual path with detail reads;
* ``decode PNG per read``: what a dataset that decodes and resizes the file on
  every read does (as torchxrayvision's NIH dataset): the real 1024-px NIH
  sample PNGs in ``../shared/nih/sample``, decoded and area-resized to 224 by
  ``--workers`` processes.

Usage: ``python bench/loader.py [--images 4096] [--batch 128] [--workers 2] [--detail-size 448]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import torch
from synthetic_split import write_split  # bench/, beside this script
from torch.utils.data import DataLoader, Dataset

from cxr.batches import EpochBatches, loader, to_device
from cxr.config import AugmentConfig
from cxr.training.augment import augment

NIH_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "nih" / "sample" / "images"


class DecodePerRead(Dataset):
    """Decode and resize a PNG on every read."""

    def __init__(self, files: list[Path], count: int, size: int) -> None:
        self.files, self.count, self.size = files, count, size

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> torch.Tensor:
        image = cv2.imread(str(self.files[i % len(self.files)]), cv2.IMREAD_GRAYSCALE)
        image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(image)


def _rate(batches, count: int, step=None) -> float:
    t0 = time.perf_counter()
    seen = 0
    for batch in batches:
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        if step is not None:
            step(images)
        seen += len(images)
        if seen >= count:
            break
    return seen / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--detail-size", type=int, default=0, help="also read a detail array")
    args = parser.parse_args()
    pin = torch.cuda.is_available()
    result = {"size": args.size, "detail_size": args.detail_size, "batch": args.batch}
    result |= {"workers": args.workers, "pinned": pin}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_split(Path(tmp), args.images, args.size, args.detail_size)
        sampler = EpochBatches(len(data), args.batch, seed=0, shuffle=True, drop_last=True)
        batches = loader(data, sampler, args.workers, pin_memory=pin)
        _rate(batches, args.batch * 2)  # start the workers, warm the page cache
        result["memmap_images_per_second"] = round(_rate(batches, args.images // 2), 1)
        gen = torch.Generator().manual_seed(0)
        config = AugmentConfig()

        def cpu_augment(images: torch.Tensor) -> None:
            augment(to_device(images, torch.device("cpu"), channels_last=False), config, gen)

        result["memmap_cpu_augment_images_per_second"] = round(
            _rate(batches, args.batch * 8, cpu_augment), 1
        )
    files = sorted(NIH_SAMPLE.glob("*.png"))
    if files:
        count = args.batch * 4
        decode = DataLoader(
            DecodePerRead(files, count, args.size),
            batch_size=args.batch,
            num_workers=args.workers,
            persistent_workers=args.workers > 0,
        )
        _rate(decode, args.batch)
        result["decode_png_images_per_second"] = round(_rate(decode, count), 1)
        result["nih_sample_pngs"] = len(files)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
