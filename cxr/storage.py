"""Disk space: refuse a long write that cannot fit, and reserve a memmap's blocks up front.

A memory-mapped array file starts sparse; when a worker later writes into a
page that a full disk cannot back, the kernel kills it with SIGBUS, possibly
hours into a run, and the pool dies with an unhelpful error. Checking the free
space before starting, and allocating every block of the file before any
worker writes, turns a full disk (or an exceeded quota) into an error that
names the folder and the space needed, raised before the work is done.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from cxr.errors import InputError

_FULL = (errno.ENOSPC, errno.EDQUOT)
_UNSUPPORTED = (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)
_REMEDY = "free some space or put the project on a larger disk, then run again"


class DiskFullError(InputError):
    """Not enough disk space for an output; the message says where and how much."""


def _amount(nbytes: float) -> str:
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.1f} MB"


def require_free(folder: str | os.PathLike, nbytes: int, what: str) -> None:
    """Raise :class:`DiskFullError` unless ``folder``'s file system has ``nbytes`` free."""
    folder = Path(folder)
    free = shutil.disk_usage(folder).free
    if free < nbytes:
        raise DiskFullError(
            f"{folder}: {what} needs {_amount(nbytes)} but its disk has {_amount(free)} free; "
            + _REMEDY
        )


def reserve(path: str | os.PathLike) -> None:
    """Allocate every block of the existing file ``path`` now (``posix_fallocate``).

    File systems that cannot preallocate are left as they are; a full disk
    raises :class:`DiskFullError` naming the file.
    """
    path = Path(path)
    size = path.stat().st_size
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno in _FULL:
            free = shutil.disk_usage(path.parent).free
            raise DiskFullError(
                f"{path}: no room to write {_amount(size)} ({_amount(free)} free on its disk); "
                + _REMEDY
            ) from None
        if err.errno not in _UNSUPPORTED:
            raise
    finally:
        os.close(fd)
