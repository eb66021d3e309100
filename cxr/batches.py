"""Batches of uint8 rows from a preprocessed split's memmap, never a PNG.

The sampler hands whole batches of row indices to the dataset, which reads
them (sorted, so the memmap reads mostly forward) in one fancy-index and
returns uint8; conversion to float and augmentation happen on the device. The
memmaps are opened lazily in each worker process, read-only (DVC's cache links
make the files read-only). Where preprocess wrote a detail array, a
:class:`Batch` carries its rows too.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cxr.findings import FINDINGS
from cxr.processed import open_detail, open_split


class Batch(NamedTuple):
    """One batch of a split, uint8 on the host (pinned by the loader on CUDA)."""

    images: torch.Tensor  # (B, 1, S, S)
    labels: torch.Tensor  # (B, C) float32 0/1
    rows: torch.Tensor  # (B,) row of each image in the split
    detail: torch.Tensor | None = None  # (B, 1, D, D), D = k * S; None without a detail array


class SplitArrays(Dataset):
    """One split: ``<split>.npy`` rows, ``<split>_detail.npy`` rows where preprocess wrote
    them, and the 14 labels of ``<split>.parquet``."""

    def __init__(self, processed_dir: str | Path, split: str, with_detail: bool = False) -> None:
        """``with_detail``: read the detail rows into each :class:`Batch` too (a model that
        looks at them); an error naming the file when preprocess wrote none."""
        self.path = Path(processed_dir) / f"{split}.npy"
        self.detail_path = Path(processed_dir) / f"{split}_detail.npy"
        array, self.index = open_split(processed_dir, split)
        self.labels = np.array(self.index[list(FINDINGS)], dtype=np.float32)  # a writable copy
        self.image_size = array.shape[1]
        detail = open_detail(processed_dir, split, len(array), self.image_size, with_detail)
        self.detail_size = detail.shape[1] if with_detail else 0
        self._array: np.ndarray | None = None  # opened per process (workers reopen them)
        self._detail: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.index)

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    @property
    def detail(self) -> np.ndarray | None:
        if self._detail is None and self.detail_size:
            self._detail = np.load(self.detail_path, mmap_mode="r")
        return self._detail

    def __getitem__(self, rows: list[int]) -> Batch:
        rows = np.asarray(rows)
        order = np.argsort(rows)
        images = _read_rows(self.array, rows, order)
        detail = (
            None if self.detail is None else torch.from_numpy(_read_rows(self.detail, rows, order))
        )
        labels = torch.from_numpy(self.labels[rows])
        return Batch(torch.from_numpy(images), labels, torch.from_numpy(rows), detail)

    def __getstate__(self):  # workers reopen the memmaps themselves
        state = self.__dict__.copy()
        state["_array"] = state["_detail"] = None
        return state


def _read_rows(array: np.ndarray, rows: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``array[rows]`` as ``(B, 1, S, S)``, read in ascending row order (forward on disk)."""
    out = np.empty((len(rows), 1, *array.shape[1:]), dtype=np.uint8)
    out[order, 0] = array[rows[order]]
    return out


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
