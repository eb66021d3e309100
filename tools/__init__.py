"""Maintenance scripts: the offline DVC plots template and the app screenshot."""
