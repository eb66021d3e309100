"""Evaluation: probabilities, per-class metrics, thresholds chosen on validation, curves."""
