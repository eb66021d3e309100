"""Batches of uint8 rows from a preprocessed split's memmap, never a PNG.

The sampler hands whole batches of row indices to the dataset, which reads
them (sorted, so the memmap reads mostly forward) in one fancy-index and
returns uint8; conversion to float and augmentation happen on the device. The
memmaps are opened lazily in each worker process, read-only (DVC's cache links
make the files read-only). A :class:`Batch` carries every array of each image the
model reads (``cxr.views``).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cxr.findings import FINDINGS
from cxr.views import Views, open_views, view_files


class Batch(NamedTuple):
    """One batch of a split, uint8 on the host (pinned by the loader on CUDA)."""

    views: tuple[torch.Tensor, ...]  # (B, 1, S, S), then each further view (B, 1, kS, kS)
    labels: torch.Tensor  # (B, C) float32 0/1
    rows: torch.Tensor  # (B,) row of each image in the split

    @property
    def images(self) -> torch.Tensor:
        return self.views[0]


class SplitArrays(Dataset):
    """One split: the rows of its first ``views`` arrays (``cxr.views``) and the 14 labels
    of ``<split>.parquet``."""

    def __init__(self, processed_dir: str | Path, split: str, views: int = 1) -> None:
        """``views``: how many arrays of each image a :class:`Batch` carries (the model's
        ``input_views``); an error naming the file when preprocess wrote fewer."""
        opened, self.index = open_views(processed_dir, split, views)
        self.paths = view_files(Path(processed_dir) / f"{split}.npy", views)
        self.path = self.paths[0]
        self.labels = np.array(self.index[list(FINDINGS)], dtype=np.float32)  # a writable copy
        self.sides = opened.sides
        self.image_size = self.sides[0]
        self._arrays: tuple[np.ndarray, ...] | None = None  # opened per process (workers reopen)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        if self._arrays is None:
            self._arrays = tuple(np.load(p, mmap_mode="r") for p in self.paths)
        return self._arrays

    @property
    def array(self) -> np.ndarray:
        return self.arrays[0]

    @property
    def views(self) -> Views:
        """The whole split as :class:`Views` of memmaps."""
        return Views(*self.arrays)

    def __getitem__(self, rows: list[int]) -> Batch:
        rows = np.asarray(rows)
        order = np.argsort(rows)
        views = tuple(torch.from_numpy(_read_rows(a, rows, order)) for a in self.arrays)
        return Batch(views, torch.from_numpy(self.labels[rows]), torch.from_numpy(rows))

    def __getstate__(self):  # workers reopen the memmaps themselves
        state = self.__dict__.copy()
        state["_arrays"] = None
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
        weights: np.ndarray | None = None,
    ) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rank, self.world = rank, world
        self.epoch = 0
        # Per row, its chance of each of an epoch's n draws (with replacement); None: a
        # permutation, every row once (:func:`source_weights`).
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
            if self.weights is not None:
                order = torch.multinomial(self.weights, self.n, True, generator=g).tolist()
            else:
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


def source_weights(index: pd.DataFrame, mode: str) -> np.ndarray | None:
    """Each row's sampling weight under ``train.source_sampling``: None for ``size`` (or a
    one-source split: every image once per epoch); for ``balanced``, 1 / (sources x the
    row's source's images), so each source fills an equal share of an epoch's draws.

    >>> source_weights(pd.DataFrame({"source": ["a", "a", "a", "b"]}), "balanced")
    array([0.16666667, 0.16666667, 0.16666667, 0.5       ])
    """
    if mode == "size" or "source" not in index.columns:
        return None
    sizes = index.source.map(index.source.value_counts()).to_numpy(np.float64)
    return 1.0 / (index.source.nunique() * sizes)


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
