"""Subgroups of a split by sex, age band and view position, so weaker groups show.

Every image falls in exactly one group of each attribute: a missing or
unexpected value forms the group ``unknown`` rather than being dropped, so the
groups of an attribute always add up to the whole split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Lower edges of the age bands (years); the last band is open.
AGE_EDGES = (0, 18, 40, 60, 80)


def age_band(age: float) -> str:
    if age is None or not np.isfinite(age) or age < 0:
        return "unknown"
    lows = [e for e in AGE_EDGES if age >= e]
    i = len(lows) - 1
    if i == len(AGE_EDGES) - 1:
        return f"{AGE_EDGES[i]}+"
    return f"{AGE_EDGES[i]}-{AGE_EDGES[i + 1] - 1}"


def _known(values: pd.Series, allowed: tuple[str, ...]) -> pd.Series:
    return (
        values.astype("string")
        .where(values.astype("string").isin(allowed), "unknown")
        .fillna("unknown")
    )


def subgroup_labels(index: pd.DataFrame) -> dict[str, pd.Series]:
    """Per attribute (``sex``, ``age``, ``view``), each image's group as strings."""
    return {
        "sex": _known(index["sex"], ("M", "F")),
        "age": pd.Series([age_band(a) for a in index["age"].astype(float)], index=index.index),
        "view": _known(index["view"], ("PA", "AP")),
    }


def group_order(labels: pd.Series) -> list[str]:
    """Groups in a stable reading order: ages ascending, ``unknown`` last."""

    def key(g: str) -> tuple:
        if g == "unknown":
            return (1, 0, g)
        head = g.split("-")[0].rstrip("+")
        return (0, int(head) if head.isdigit() else 0, g)

    return sorted(labels.unique().tolist(), key=key)
