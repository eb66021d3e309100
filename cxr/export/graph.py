"""The model's whole forward pass as an ONNX graph, and that graph run by ONNX Runtime.

Inputs are the model's views (``cxr.views``) as float32 ``(B, 1, S, S)`` in [0, 1],
named as ``cxr.views.VIEW_NAMES`` names them (``image``, then any sharper view a
dual path crops from), with a dynamic batch axis; the output is ``logits``
``(B, C)``. The model's first module turns gray into ImageNet-normalised RGB, so
the graph needs no preprocessing beyond the uint8 array divided by 255
(``config.json`` says how the array is made). Exported with torch.export
(``dynamo=True``) at fp32.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cxr.views import VIEW_NAMES, Views

INPUT_NAMES = VIEW_NAMES
OUTPUT_NAME = "logits"
OPSET = 18


def export_onnx(model: nn.Module, sides: tuple[int, ...], path: Path) -> None:
    """Write ``model`` (eval mode, CPU, fp32) as a one-file ONNX graph to ``path`` (in a
    folder the caller renames into place)."""
    model = model.eval().cpu().float()
    examples = tuple(torch.rand(2, 1, side, side) for side in sides)
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        torch.onnx.export(
            model, examples, str(path), input_names=list(INPUT_NAMES[: len(sides)]),
            output_names=[OUTPUT_NAME], dynamic_shapes=tuple({0: batch} for _ in sides),
            dynamo=True, external_data=False, opset_version=OPSET, verbose=False,
        )  # fmt: skip


class Graph:
    """An exported graph in one ONNX Runtime session (CPU provider), made once and used for
    every check and batch."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def inputs(self) -> list[dict]:
        """The graph's inputs as ONNX Runtime sees them: name, element type, shape (a named
        dimension, such as the dynamic batch, as its name)."""
        return [{"name": i.name, "type": i.type, "shape": list(i.shape)}
                for i in self.session.get_inputs()]  # fmt: skip

    def logits(self, views: Views, batch_size: int = 32) -> np.ndarray:
        """Logits ``[N, C]`` of ``views`` (uint8, as preprocess makes them)."""
        names = [i["name"] for i in self.inputs()]
        out = []
        for s in range(0, len(views), batch_size):
            feed = {
                name: (a[s : s + batch_size, None].astype(np.float32) / 255.0)
                for name, a in zip(names, views.arrays, strict=True)
            }
            out.append(self.session.run([OUTPUT_NAME], feed)[0])
        return np.concatenate(out)
