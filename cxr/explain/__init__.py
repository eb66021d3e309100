"""Explanations: GradCAM maps, the pointing game against true boxes, galleries."""
