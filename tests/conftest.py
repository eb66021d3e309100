"""Shared fixtures: the real NIH metadata in ../shared/nih and a small demo data set."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ruamel.yaml import YAML

from cxr.config import DemoConfig
from cxr.demo.generate import generate_demo

ROOT = Path(__file__).resolve().parents[1]
NIH_DIR = Path(os.environ.get("CXR_SHARED_NIH", ROOT.parent / "shared" / "nih"))

os.environ.setdefault("COLUMNS", "200")


def pytest_configure() -> None:
    """A pytest-xdist worker computes on one thread: the two workers ``addopts`` starts
    share two cores, and two threads each thrashed them (the suite took longer than in one
    process). Stage subprocesses a test starts inherit it."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


def dvc_stages(every_member: bool = False) -> dict[str, dict]:
    """dvc.yaml's stages; a ``foreach`` family as its first member (``external@0``), with
    ``${item.*}`` filled in from the first entry of the params.yaml list it runs over (or
    placeholders, for an empty list); ``every_member``: each of its members."""
    yaml = YAML(typ="safe")
    dvc = yaml.load((ROOT / "dvc.yaml").read_text())
    params = yaml.load((ROOT / "params.yaml").read_text())
    out = {}
    for name, stage in dvc["stages"].items():
        if "foreach" not in stage:
            out[name] = stage
            continue
        items = params
        for key in stage["foreach"].removeprefix("${").removesuffix("}").split("."):
            items = items[key]
        members = items if every_member else items[:1]
        for i, item in enumerate(members or [{}]):
            out[f"{name}@{i}"] = json.loads(_filled(json.dumps(stage["do"]), item))
    return out


def _filled(text: str, item: dict) -> str:
    """``${item.key}``: the key's value; ``item-key`` when the list is empty (the default
    ``peers.models``), so a family with no member is still checked."""
    return re.sub(r"\$\{item\.(\w+)\}", lambda m: str(item.get(m[1], f"item-{m[1]}")), text)


def xrv_data_file(name: str) -> Path:
    """A real label file of torchxrayvision's package data; the test skips, saying why,
    where torchxrayvision or the file is absent."""
    xrv = pytest.importorskip(
        "torchxrayvision", reason="torchxrayvision (a test dependency) ships the real label files"
    )
    path = Path(os.path.dirname(xrv.__file__)) / "data" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in this torchxrayvision's package data")
    return path


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }  # Typer/rich wrap help and errors at the terminal width


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


TINY_PIPELINE = """
demo: {images: 160, size: 64, seed: 2, workers: 1, external_images: 50, third_images: 50}
ingest: {raw_dir: data/raw/demo, split: patient, val_fraction: 0.2, test_fraction: 0.25}
preprocess: {size: 32, workers: 1}
model: {arch: densenet121, weights: none}
train: {epochs: 1, batch_size: 16}
evaluate: {}
explain: {gallery_per_kind: 2}
"""


def run_stages(root: Path, *stages: str) -> None:
    """Run ``cxr <stage>`` for each of ``stages`` (with its arguments: ``"external NAME"``) in
    ``root``, as ``dvc repro`` would there."""
    from typer.testing import CliRunner

    from commands.cli import app

    here = Path.cwd()
    os.chdir(root)
    try:
        runner = CliRunner()
        for stage in stages:
            result = runner.invoke(app, stage.split())
            assert result.exit_code == 0, f"{stage}: {result.output}"
    finally:
        os.chdir(here)


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> Path:
    """A folder where every stage has run once on a 160-image demo, with Google-format
    radiologist labels for every image (all in that file's "test" set)."""
    root = tmp_path_factory.mktemp("tiny-pipeline")
    (root / "params.yaml").write_text(TINY_PIPELINE)
    run_stages(root, "check-params", "demo")
    raw = root / "data/raw/demo"
    images = pd.read_csv(raw / "Data_Entry_2017_v2020.csv")
    rng = np.random.default_rng(0)
    findings = ("Fracture", "Pneumothorax", "Airspace opacity", "Nodule or mass")
    pd.DataFrame(
        {
            "Image Index": images["Image Index"],
            "Patient ID": images["Patient ID"],
            **{f: rng.choice(["YES", "NO"], len(images)) for f in findings},
            "Set Id": "test",
        }
    ).to_csv(raw / "google2019_nih-chest-xray-labels.csv", index=False)
    run_stages(root, "ingest", "preprocess", "train", "evaluate", "explain")
    run_stages(root, "external demo_hospital", "external third_hospital", "external-report")
    # The repository keeps reports/peers/ (the peers_report stage's dep) with this file.
    (root / "reports/peers").mkdir(parents=True)
    shutil.copy(ROOT / "reports/peers/README.md", root / "reports/peers")
    run_stages(root, "peers-report", "sources")
    return root
