"""Write and read back what was fitted on validation (``thresholds.json``,
``calibration.json``: evaluate's for cxr's model, ``cxr score``'s for a peer) and the
predictions evaluate wrote (``data/predictions/<split>.parquet``).

Explain and inference apply these files unchanged; a missing or damaged one
is an :class:`~cxr.errors.InputError` that names the file and says to rerun
evaluate, never a bare ``KeyError`` or ``JSONDecodeError``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cxr.atomic import write_json
from cxr.errors import InputError
from cxr.evaluation.calibration import Calibration
from cxr.findings import FINDINGS

_RERUN = "the evaluate stage writes it (`dvc repro evaluate`)"


def write_fitted(
    thresholds_file: Path,
    calibration_file: Path,
    policy: str,
    thresholds: dict[str, float],
    calibration: Calibration,
) -> None:
    """Write the validation thresholds (chosen by ``policy``) and calibration of the 14
    findings, each file atomically, as :func:`read_thresholds` and :func:`read_fitted` read them."""
    write_json(thresholds_file, {"policy": policy, "chosen_on": "val", "thresholds": thresholds})
    write_json(calibration_file, {"fitted_on": "val", **calibration.to_json(FINDINGS)})


def read_fitted(path: str | Path, rerun: str = _RERUN) -> dict:
    """The JSON object in ``path``; ``rerun``: what makes the file, for the errors."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found; {rerun}")
    try:
        content = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: damaged, not JSON ({err}); {rerun}") from None
    if not isinstance(content, dict):
        raise InputError(f"{path}: damaged, not a JSON object; {rerun}")
    return content


def read_thresholds(path: str | Path, classes: Sequence[str], rerun: str = _RERUN) -> np.ndarray:
    """The validation thresholds ``[C]`` of ``classes``, in that order."""
    table = read_fitted(path, rerun).get("thresholds")
    if not isinstance(table, dict):
        raise InputError(f"{path}: damaged, no 'thresholds' table; {rerun}")
    missing = [c for c in classes if c not in table]
    if missing:
        raise InputError(f"{path}: no threshold for {missing}; {rerun}")
    try:
        values = np.array([float(table[c]) for c in classes], np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: damaged, a threshold is not a number ({err}); {rerun}") from (
            None
        )
    if not np.isfinite(values).all():
        raise InputError(f"{path}: damaged, a threshold is not finite; {rerun}")
    return values


def read_predictions(path: Path, index: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """The calibrated probabilities ``(N, C)`` of a prediction table, checked row for row
    against the split's ``index``: a table made from other data is an error, not a shift."""
    if not path.is_file():
        raise InputError(f"{path}: missing; {_RERUN}")
    table = pd.read_parquet(path)
    if table.image_id.tolist() != index.image_id.tolist():
        raise InputError(
            f"{path} does not match the split's index (made from other data): "
            "rerun evaluate (`dvc repro evaluate`)"
        )
    return table[[f"p_{n}" for n in classes]].to_numpy()
