"""Read the official ``train_val_list.txt`` / ``test_list.txt`` (one image name per line)."""

from __future__ import annotations

from pathlib import Path

from cxr.errors import InputError
from cxr.nih.text import TextFileError, read_text

TRAIN_VAL_LIST = "train_val_list.txt"
TEST_LIST = "test_list.txt"


class SplitListError(InputError):
    """A split list cannot be used; the message names the file and the entries."""


def read_split_list(path: str | Path) -> list[str]:
    """Image names of a split list, in file order. NIH's lists end without a newline."""
    path = Path(path)
    if not path.is_file():
        raise SplitListError(
            f"{path}: split list not found; the 'official' split needs {TRAIN_VAL_LIST} and "
            f"{TEST_LIST} from the NIH download in the raw folder (or use split mode 'patient')"
        )
    try:
        text = read_text(path)[2]
    except TextFileError as err:
        raise SplitListError(str(err)) from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    seen: set[str] = set()
    dups = [n for n in names if n in seen or seen.add(n)]
    if dups:
        raise SplitListError(f"{path}: {len(dups)} names listed twice, e.g. {dups[:5]}")
    return names
