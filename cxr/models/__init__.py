"""Classifier architectures: one module per idea, built by name from a :class:`ModelConfig`."""
