"""Shared fixtures: the real NIH metadata in ../shared/nih and a small demo data set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cxr.demo.generate import DemoConfig, generate_demo

ROOT = Path(__file__).resolve().parents[1]
NIH_DIR = Path(os.environ.get("CXR_SHARED_NIH", ROOT.parent / "shared" / "nih"))

os.environ.setdefault("COLUMNS", "200")  # Typer/rich wrap help and errors at the terminal width


@pytest.fixture(scope="session")
def nih_dir() -> Path:
    """The real NIH metadata and image sample; tests that need it skip without it."""
    if not (NIH_DIR / "Data_Entry_2017_v2020.csv.gz").is_file():
        pytest.skip(f"real NIH metadata not found at {NIH_DIR} (set CXR_SHARED_NIH to its folder)")
    return NIH_DIR


@pytest.fixture(scope="session")
def nih_labels(nih_dir):
    from cxr.nih.label_file import read_label_file

    return read_label_file(nih_dir / "Data_Entry_2017_v2020.csv.gz")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A small demo data set (120 images of 128 px) made once per session."""
    out = tmp_path_factory.mktemp("demo") / "raw"
    generate_demo(out, DemoConfig(images=120, size=128, seed=3, workers=1))
    return out
