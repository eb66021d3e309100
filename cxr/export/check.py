"""Check an install against an export: run its reference inputs through the exported
weights with PyTorch and through its ONNX graph with ONNX Runtime, and compare the
logits with each other and with the ones the exporting machine wrote.

Both runs are fp32 on the CPU, as the reference was, so the differences are those of
kernels and libraries (about 1e-6 between machines), not of precision.

Example::

    report = check_export(Path("exports/demo"))
    report["onnx_vs_torch"]          # largest |logit difference| (batches of 8 and 1), e.g. 3e-06
    report["passed"]                 # every difference within TOLERANCE
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cxr.export.folder import ONNX, REFERENCE, load_export, read_config, reference_logits
from cxr.export.graph import Graph
from cxr.export.weights import ExportError

#: Largest logit difference a check passes: fp32 kernels of different machines and
#: libraries differ by about 1e-6; a wrong weight or preprocessing by far more.
TOLERANCE = 1e-4


def check_export(folder: Path) -> dict:
    """The largest absolute logit differences of the reference inputs: PyTorch against
    the reference, ONNX Runtime against PyTorch and against the reference (None where the
    export has no graph), and the probabilities' against the reference's."""
    config = read_config(folder)
    reference_file = folder / REFERENCE
    if not reference_file.is_file():
        raise ExportError(f"{reference_file}: missing; export again (`cxr export`)")
    reference = pd.read_csv(reference_file)
    predictor = load_export(folder, torch.device("cpu"))
    files = [folder / f for f in reference.file]
    views, ours = reference_logits(predictor, files)
    logits = ours.to_numpy()
    # float32 as computed: the CSV's 9 digits name each float32 exactly
    expected = reference[ours.columns].to_numpy().astype(np.float32)
    probs = predictor.calibration.apply(logits)
    p_columns = [f"p_{c}" for c in predictor.classes]
    report = {
        "images": len(files),
        "torch_vs_reference": _largest(logits, expected),
        "probability_torch_vs_reference": _largest(probs, reference[p_columns].to_numpy()),
        "onnx_vs_torch": None,
        "onnx_vs_reference": None,
    }
    if config.get("onnx"):
        session = Graph(folder / ONNX)
        _check_graph_inputs(folder / ONNX, session, config["inputs"])
        graph = session.logits(views)  # the whole batch
        single = session.logits(views, batch_size=1)  # and one image at a time
        both = np.concatenate([graph, single])  # a NaN in either propagates
        report |= {"onnx_vs_torch": _largest(both, np.concatenate([logits, logits])),
                   "onnx_vs_reference": _largest(graph, expected)}  # fmt: skip
    checked = [v for k, v in report.items() if k.endswith(("reference", "torch")) and v is not None]
    # NaN is never within tolerance (and max() would skip it).
    passed = all(np.isfinite(v) and v <= TOLERANCE for v in checked)
    return {**report, "tolerance": TOLERANCE, "passed": passed}


def _check_graph_inputs(path: Path, graph: Graph, declared: list[dict]) -> None:
    """The graph takes what ``config.json`` tells users to feed it: the same names, float32,
    ``(batch, 1, S, S)`` with a dynamic batch."""
    found = graph.inputs()
    expected = [(d["name"], "tensor(float)", d["shape"][1:]) for d in declared]
    actual = [(g["name"], g["type"], g["shape"][1:]) for g in found]
    if actual != expected or any(isinstance(g["shape"][0], int) for g in found):
        raise ExportError(f"{path}: its inputs {found} are not what config.json says: {declared}")


def _largest(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
