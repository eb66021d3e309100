"""The 14 ChestX-ray14 findings: canonical order, spellings and label-string parsing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from cxr.errors import InputError

#: The 14 findings in the canonical order used for every label column and logit.
FINDINGS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
NO_FINDING = "No Finding"
_INDEX = {name: i for i, name in enumerate(FINDINGS)}

# Spellings seen in NIH files that mean a canonical finding: the box list writes
# "Infiltrate"; some redistributions write a space in Pleural_Thickening.
_ALIASES = {"Infiltrate": "Infiltration", "Pleural Thickening": "Pleural_Thickening"}


class UnknownFindingError(InputError):
    """A label string names something that is not one of the 14 findings."""


def canonical_finding(name: str) -> str:
    """Return the canonical spelling of ``name`` or raise :class:`UnknownFindingError`."""
    name = name.strip()
    name = _ALIASES.get(name, name)
    if name not in _INDEX:
        raise UnknownFindingError(
            f"unknown finding {name!r}; expected one of {', '.join(FINDINGS)}"
        )
    return name


def parse_finding_labels(
    labels: Sequence[str], row_name: Callable[[int], str] | None = None
) -> np.ndarray:
    """Parse NIH ``Finding Labels`` strings (``"Effusion|Mass"``, ``"No Finding"``).

    Returns a ``uint8`` array of shape ``[len(labels), 14]`` in :data:`FINDINGS` order.
    An unknown or empty label raises :class:`UnknownFindingError` naming the row
    (``row_name(i)`` when given, else the position).
    """
    out = np.zeros((len(labels), len(FINDINGS)), dtype=np.uint8)
    # Few distinct strings (836 in the real file): parse each once.
    cache: dict[str, list[int]] = {}
    for i, text in enumerate(labels):
        idx = cache.get(text)
        if idx is None:
            try:
                idx = _parse_one(text)
            except UnknownFindingError as err:
                where = row_name(i) if row_name is not None else f"row {i}"
                raise UnknownFindingError(
                    f"{where}: {err} in 'Finding Labels' = {text!r}"
                ) from None
            cache[text] = idx
        out[i, idx] = 1
    return out


def _parse_one(text: object) -> list[int]:
    if not isinstance(text, str) or not text.strip():
        raise UnknownFindingError("empty label")
    parts = [p.strip() for p in text.split("|")]
    if parts == [NO_FINDING]:
        return []
    if NO_FINDING in parts:
        raise UnknownFindingError(f"{NO_FINDING!r} combined with findings")
    return sorted({_INDEX[canonical_finding(p)] for p in parts})


def format_finding_labels(rows: Iterable[Sequence[int]]) -> list[str]:
    """Inverse of :func:`parse_finding_labels`: label vectors back to NIH strings."""
    out = []
    for row in rows:
        names = [FINDINGS[i] for i, v in enumerate(row) if v]
        out.append("|".join(names) if names else NO_FINDING)
    return out
