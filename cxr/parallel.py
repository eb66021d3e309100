"""Map a function over tasks in worker processes (or in-process for one worker).

Shared by every stage that fans CPU-bound work out to cores. Workers are
started with ``spawn`` so they never inherit threads or open handles of the
parent (DVC, tqdm and PyTorch all start threads), and results come back in
completion order: callers that care about order carry an index in each task.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def worker_count(requested: int) -> int:
    """``requested`` workers, or every core this process may use when 0."""
    if requested > 0:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def map_unordered(
    fn: Callable[[Any], Any],
    tasks: Iterable[Any],
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
) -> Iterator[Any]:
    """Yield ``fn(task)`` for every task, in completion order.

    ``fn`` and ``initializer`` must be importable module-level functions. With one
    worker everything runs in this process, which keeps tracebacks simple.
    """
    tasks = list(tasks)
    workers = min(worker_count(workers), max(1, len(tasks)))
    if workers == 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(fn, tasks)
        return
    with mp.get_context("spawn").Pool(workers, initializer=initializer, initargs=initargs) as pool:
        yield from pool.imap_unordered(fn, tasks)
