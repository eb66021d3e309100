"""Find and read the text files of an NIH download, stored plain or gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path

from cxr.errors import InputError


def first_file(folder: str | Path, names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` that is a file in ``folder`` (e.g. ``x.csv`` before
    ``x.csv.gz``), or ``None``."""
    for name in names:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


class TextFileError(InputError):
    """A metadata file is not readable text."""


def read_text(path: str | Path) -> tuple[bytes, bytes, str]:
    """Return ``(stored bytes, decompressed bytes, text)`` of a plain or gzipped file.

    Gzip is recognised by its magic bytes, not the suffix; a UTF-8 BOM is dropped.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError) as err:
        raise TextFileError(f"{path}: broken gzip file ({err}); download it again") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise TextFileError(f"{path}: not UTF-8 text ({err}); is this the right file?") from None
    return raw, data, text
