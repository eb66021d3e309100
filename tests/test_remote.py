"""Results shared through a DVC remote: push from one project, clone it fresh, pull, and use
the model without training (README, "Share results through a DVC remote")."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from ruamel.yaml import YAML
from typer.testing import CliRunner

from commands.cli import app
from cxr.findings import FINDINGS
from tests.conftest import ROOT

GIT_USER = ["-c", "user.name=cxr test", "-c", "user.email=test@cxr.invalid"]


def _run(cwd: Path, *command: str) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


def _dvc(cwd: Path, *args: str) -> str:
    return _run(cwd, sys.executable, "-m", "dvc", *args)


def _git(cwd: Path, *args: str) -> str:
    return _run(cwd, "git", *GIT_USER, *args)


def test_push_clone_pull_then_predict_without_training(tiny_pipeline, tmp_path, monkeypatch):
    project, remote, clone = tmp_path / "project", tmp_path / "remote", tmp_path / "clone"
    # A project with the pipeline's code and dvc.yaml, and the outputs its stages wrote.
    shutil.copytree(tiny_pipeline, project, ignore=shutil.ignore_patterns("last.pt"))
    skip = shutil.ignore_patterns("__pycache__")
    for name in ("cxr", "stages"):
        shutil.copytree(ROOT / name, project / name, ignore=skip)
    shutil.copy(ROOT / "dvc.yaml", project)
    # dvc.yaml lists params key by key, so DVC needs every key: the shipped file (the
    # dataclass defaults, which the stages used for keys the tiny file leaves out)
    # with the tiny file's values over it.
    full = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    for name, values in YAML(typ="safe").load((project / "params.yaml").read_text()).items():
        full[name].update(values or {})
    with open(project / "params.yaml", "w") as f:
        YAML(typ="safe").dump(full, f)
    _git(project, "init", "-q")
    _dvc(project, "init", "-q")
    _dvc(project, "remote", "add", "-d", "store", str(remote))
    _dvc(project, "commit", "-f", "-q")  # record the stages' outputs without rerunning them
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "results")
    _dvc(project, "push", "-q")

    tracked = set(_git(project, "ls-files").split())
    assert {"dvc.lock", "metrics/train.json", "metrics/env.json", "reports/model_card.md"} <= (
        tracked
    )
    # Data live in the DVC cache; git holds only the .gitignore files DVC writes beside them.
    assert {Path(p).name for p in tracked if p.startswith("data/")} == {".gitignore"}

    _git(tmp_path, "clone", "-q", str(project), str(clone))
    assert not (clone / "data/model/best.pt").exists()
    _dvc(clone, "pull", "-q")
    assert "Data and pipelines are up to date" in _dvc(clone, "status")
    for name in ("data/model/best.pt", "data/processed/test.npy", "data/raw/demo/images"):
        assert (clone / name).exists(), name
    assert (clone / "data/model/best.pt").read_bytes() == (
        project / "data/model/best.pt"
    ).read_bytes()

    # The pulled model predicts what the evaluate stage gave, with no training in the clone.
    monkeypatch.chdir(clone)
    index = pd.read_parquet("data/processed/test.parquet")
    image = Path("data/raw/demo") / index.path[0]
    result = CliRunner().invoke(app, ["predict", str(image), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    ours = pd.read_csv(tmp_path / "p.csv")[[f"p_{n}" for n in FINDINGS]].to_numpy()[0]
    stage = pd.read_parquet("data/predictions/test.parquet")[[f"p_{n}" for n in FINDINGS]]
    np.testing.assert_allclose(ours, stage.to_numpy()[0], atol=1e-5, rtol=0)
