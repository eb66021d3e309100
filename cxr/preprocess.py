"""Decode, resize and enhance every image once, streaming into uint8 memmaps per split.

Training must never decode a PNG (about 100 decodes per second per core against
a GPU that trains on 1,700 images per second), so this stage writes
``<split>.npy`` (``uint8 [N, size, size]``, opened with ``np.load(mmap_mode="r")``)
and ``<split>.parquet`` whose row ``i`` describes array row ``i`` and carries
the geometry that maps source pixels into it. With ``detail_size`` it also
writes ``<split>_detail.npy`` (``uint8 [N, detail_size, detail_size]``) from the
same decode and enhancement: row ``i`` is the same image, its box and padding
exactly ``detail_size / size`` times those of ``<split>.npy``
(``cxr.imaging.resize.fit_squares``).

Workers write their rows straight into the memmap, so memory stays bounded by
one image per worker whatever the data set size, and the bytes written do not
depend on the number of workers. A file that cannot be decoded is rejected with
its reason and the run goes on.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cxr.config import PreprocessConfig
from cxr.imaging.decode import DecodeError, read_gray8
from cxr.imaging.geometry import GEOMETRY_COLUMNS
from cxr.imaging.resize import clahe, fit_squares
from cxr.parallel import map_unordered, worker_count
from cxr.splits import SPLITS
from cxr.storage import require_free, reserve
from cxr.views import view_files

_CHUNK = 32  # rows per task: amortises inter-process overhead, keeps the bar lively


@dataclass
class SplitOutput:
    index: pd.DataFrame  # metadata of the kept rows + row + geometry columns
    rejected: pd.DataFrame  # image_id, path, split, reason


def prepare_arrays(path: str | Path, config: PreprocessConfig) -> tuple[list[np.ndarray], tuple]:
    """One file to its rows at every side of ``config.sizes`` and the geometry tuple of the
    first; raises :class:`DecodeError`."""
    enhance = (
        functools.partial(clahe, clip_limit=config.clahe_clip, grid=config.clahe_grid)
        if config.clahe
        else None
    )
    arrays, geometry = fit_squares(read_gray8(path), config.sizes, config.keep_aspect, enhance)
    return arrays, geometry.as_tuple()


def preprocess_split(
    meta: pd.DataFrame,
    raw_dir: str | Path,
    npy_path: str | Path,
    config: PreprocessConfig,
    desc: str = "preprocess",
) -> SplitOutput:
    """Write the rows of ``meta`` (one split) into ``npy_path``; return its index and rejects.

    ``npy_path`` is written in place: callers write into a temporary folder and
    rename it when every split is done (see :mod:`cxr.atomic`).
    """
    npy_path = Path(npy_path)
    n = len(meta)
    # Rows of several sources (cxr.external.sources) name their own folder.
    roots = meta.root if "root" in meta.columns else [raw_dir] * n
    paths = [str(Path(root) / p) for root, p in zip(roots, meta.path, strict=True)]
    targets = view_files(npy_path, len(config.sizes))
    # Rows are written to scratch arrays first: rejected rows are only known
    # after decoding, and the final arrays hold exactly the kept rows.
    scratches = [t.with_name(t.name + ".partial") for t in targets]
    for scratch, side in zip(scratches, config.sizes, strict=True):
        np.lib.format.open_memmap(scratch, mode="w+", dtype=np.uint8, shape=(n, side, side)).flush()
        reserve(scratch)  # a full disk fails here, not as a SIGBUS in a worker
    geometry = np.zeros((n, len(GEOMETRY_COLUMNS)), dtype=np.float64)
    reasons: list[str | None] = [None] * n
    tasks = [(start, paths[start : start + _CHUNK]) for start in range(0, n, _CHUNK)]
    with tqdm(total=n, desc=desc, unit="img") as bar:
        results_iter = map_unordered(
            _work, tasks, config.workers, _init_worker, ([str(s) for s in scratches], config)
        )
        for start, results in results_iter:
            for k, (reason, geom) in enumerate(results):
                reasons[start + k] = reason
                if geom is not None:
                    geometry[start + k] = geom
            bar.update(len(results))

    ok = np.array([r is None for r in reasons], dtype=bool)
    for scratch, target in zip(scratches, targets, strict=True):
        _keep_rows(scratch, target, ok)

    index = meta.loc[ok].reset_index(drop=True)
    index.insert(0, "row", np.arange(len(index), dtype=np.int64))
    for j, col in enumerate(GEOMETRY_COLUMNS):
        values = geometry[ok, j]
        index[col] = values.astype(np.int64) if col in ("width", "height") else values
    rejected = pd.DataFrame(
        {
            "image_id": meta.image_id.to_numpy()[~ok],
            "path": meta.path.to_numpy()[~ok],
            "split": meta.split.to_numpy()[~ok],
            "reason": [r for r in reasons if r is not None],
        }
    )
    return SplitOutput(index=index, rejected=rejected)


def _keep_rows(scratch: Path, target: Path, ok: np.ndarray) -> None:
    """Move ``scratch`` to ``target``, keeping only the rows where ``ok``."""
    if ok.all():
        os.replace(scratch, target)
        return
    source = np.load(scratch, mmap_mode="r")
    kept = np.flatnonzero(ok)
    out = np.lib.format.open_memmap(
        target, mode="w+", dtype=np.uint8, shape=(len(kept), *source.shape[1:])
    )
    reserve(target)
    for s in range(0, len(kept), 1024):
        out[s : s + 1024] = source[kept[s : s + 1024]]
    out.flush()
    del out, source
    scratch.unlink()


def preprocess(
    meta: pd.DataFrame, raw_dir: str | Path, out_dir: str | Path, config: PreprocessConfig
) -> dict:
    """Preprocess every split of ``meta`` into ``out_dir``; return the stage metrics.

    Writes ``<split>.npy``, ``<split>.parquet`` and ``rejected.csv`` into ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Hours of decoding must not end on a full disk: the arrays' size is known now.
    sides = " and ".join(str(side) for side in config.sizes)
    require_free(
        out_dir,
        len(meta) * sum(side**2 for side in config.sizes),
        f"preprocess of {len(meta)} images at {sides} px",
    )
    t0 = time.perf_counter()
    per_split, rejected = {}, []
    for split in SPLITS:
        part = meta[meta.split == split].reset_index(drop=True)
        result = preprocess_split(part, raw_dir, out_dir / f"{split}.npy", config, desc=split)
        result.index.to_parquet(out_dir / f"{split}.parquet", index=False)
        rejected.append(result.rejected)
        per_split[split] = {"images": len(result.index), "rejected": len(result.rejected)}
    rejected_frame = pd.concat(rejected, ignore_index=True)
    rejected_frame.to_csv(out_dir / "rejected.csv", index=False)
    seconds = time.perf_counter() - t0
    return {
        "size": config.size,
        "detail_size": config.detail_size,
        "clahe": config.clahe,
        "workers": worker_count(config.workers),
        "images": sum(s["images"] for s in per_split.values()),
        "rejected": len(rejected_frame),
        "rejected_by_reason": reason_counts(rejected_frame.reason),
        "splits": per_split,
        "seconds": round(seconds, 2),
        "images_per_second": round(len(meta) / seconds, 1) if seconds > 0 else None,
    }


def reason_counts(reasons: pd.Series) -> dict:
    """Rows per kind of reason: its text before any parenthesised detail."""
    kinds = reasons.astype(str).str.replace(r"\s*\(.*$", "", regex=True)
    return {k: int(v) for k, v in kinds.value_counts().sort_index().items()}


# --- workers ---------------------------------------------------------------

_state: dict = {}


def _init_worker(npy_paths: list[str], config: PreprocessConfig) -> None:
    import cv2

    cv2.setNumThreads(1)  # one decode per core; OpenCV's own threads would oversubscribe
    _state.update(npy_paths=npy_paths, config=config, arrays=None)


def _work(task: tuple[int, list[str]]) -> tuple[int, list[tuple[str | None, tuple | None]]]:
    start, paths = task
    if _state["arrays"] is None:  # open lazily, once per worker
        _state["arrays"] = [np.load(p, mmap_mode="r+") for p in _state["npy_paths"]]
    arrays, config = _state["arrays"], _state["config"]
    results = []
    for k, path in enumerate(paths):
        try:
            rows, geom = prepare_arrays(path, config)
        except DecodeError as err:
            results.append((str(err), None))
            continue
        for array, row in zip(arrays, rows, strict=True):
            array[start + k] = row
        results.append((None, geom))
    for array in arrays:
        array.flush()
    return start, results
