"""Readers for the files of an NIH ChestX-ray14 download (or a folder in its layout)."""
