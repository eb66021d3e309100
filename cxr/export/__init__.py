"""A trained model as one self-contained folder others load without cxr's training code:
safetensors weights, the config that rebuilds the network and its preprocessing, the
fitted calibration, thresholds and input guard, an ONNX graph, a model card and
reference inputs with the exporting machine's outputs (``cxr export``,
``cxr check-export``, ``cxr predict --model DIR``; docs/export.md)."""
