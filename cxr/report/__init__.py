"""Markdown reports a reviewer reads: evaluation with intervals, localisation, the model card."""
