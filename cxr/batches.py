"""Batches of uint8 rows from a preprocessed split's memmap, never a PNG.

The sampler hands whole batches of row indices to the dataset, which reads
them (sorted, so the memmap reads mostly forward) in one fancy-index and
returns uint8; conversion to float and augmentation happen on the device. The
memmap is opened lazily in each worker process, read-only (DVC's cache links
make the files read-only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cxr.findings import FINDINGS
from cxr.processed import open_split


class SplitArrays(Dataset):
    """One split: ``<split>.npy`` rows and the 14 labels of ``<split>.parquet``."""

    def __init__(self, processed_dir: str | Path, split: str) -> None:
        self.path = Path(processed_dir) / f"{split}.npy"
        array, self.index = open_split(processed_dir, split)
        self.labels = np.array(self.index[list(FINDINGS)], dtype=np.float32)  # a writable copy
        self.image_size = array.shape[1]
        self._array: np.ndarray | None = None  # opened per process (workers reopen it)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __getitem__(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = np.asarray(rows)
        order = np.argsort(rows)
        images = np.empty((len(rows), 1, self.image_size, self.image_size), dtype=np.uint8)
        images[order, 0] = self.array[rows[order]]
        return torch.from_numpy(images), torch.from_numpy(self.labels[rows]), torch.from_numpy(rows)

    def __getstate__(self):  # workers reopen the memmap themselves
        state = self.__dict__.copy()
        state["_array"] = None
        return state


#: Keeps the seeds of different ranks apart from those of nearby (seed, epoch) pairs.
RANK_STRIDE = 1_000_000_007


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one epoch's draws: data order (``rank=0`` on every process), and
    augmentation and dropout (this process's rank, so data-parallel processes draw
    different crops and masks for their different images).

    Rank 0's seed is the single-process seed, so a one-process run reproduces earlier
    runs bit for bit.
    """
    return seed * 100_003 + epoch + rank * RANK_STRIDE


class EpochBatches(Sampler[list[int]]):
    """Batches of a permutation seeded by ``(seed, epoch)``: a resumed epoch repeats exactly.

    With ``world`` processes, training (``drop_last``) cuts each global batch of
    ``batch_size * world`` rows into one ``batch_size`` slice per rank, so the
    ranks see the rows in the single-process order of the global batch (their
    augmentation and dropout differ: :func:`epoch_seed`); evaluation gives each
    rank every ``world``-th row.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int,
        shuffle: bool,
        drop_last: bool,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rank, self.world = rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.drop_last:
            step = self.batch_size * self.world
            for start in range(0, self.n - step + 1, step):
                mine = start + self.rank * self.batch_size
                yield order[mine : mine + self.batch_size]
        else:
            mine = order[self.rank :: self.world]
            for i in range(0, len(mine), self.batch_size):
                yield mine[i : i + self.batch_size]

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // (self.batch_size * self.world)
        return -(-len(range(self.rank, self.n, self.world)) // self.batch_size)


def loader(dataset: SplitArrays, sampler: Sampler, workers: int, pin_memory: bool) -> DataLoader:
    return DataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,  # the sampler yields whole batches
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
    )


def to_device(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 ``[B, 1, H, W]`` -> float [0, 1] on ``device`` (non-blocking from pinned memory)."""
    x = images.to(device, non_blocking=True).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
