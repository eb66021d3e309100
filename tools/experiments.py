"""Run named DVC experiments one after another and collect what choosing and reporting need.

Each run is ``name`` (the committed workspace as it is) or ``name:key=value,key=value``
(``dvc exp run -n name -S key=value ...`` from the committed params and outputs,
training from scratch).
For every run it keeps the headline metrics, the training time and both prediction
tables; then it scores every run against the first on the same patient resamples:
on **validation** (the basis for choosing) and, once, on test (the final report).
The workspace is restored to the committed outputs at the end.

``--keep DIR`` keeps each run's prediction tables in ``DIR/<name>``, for ``cxr compare``
between any two runs afterwards.

Usage::

    python -m tools.experiments --out bench/results/seeds.json \\
        seed0 seed1:train.seed=1 seed2:train.seed=2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from cxr.evaluation.compare import compare_tables, read_prediction_table

ROOT = Path(__file__).resolve().parents[1]


def _dvc(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=ROOT, check=True)


def _read(name: str) -> dict:
    return json.loads((ROOT / "metrics" / f"{name}.json").read_text())


def _restore() -> None:
    """The committed params and outputs: ``dvc exp run`` leaves its run's in the workspace,
    and the next ``-S`` would stack on them."""
    subprocess.run(["git", "checkout", "HEAD", "--", "."], cwd=ROOT, check=True)
    (ROOT / "data/model/last.pt").unlink(missing_ok=True)  # from scratch, never resumed
    _dvc("checkout", "--force")


def _run(name: str, overrides: list[str], keep: Path) -> dict:
    if overrides:
        _restore()
        _dvc("exp", "run", "-n", name, *[a for o in overrides for a in ("-S", o)])
    shutil.copytree(ROOT / "data/predictions", keep / name, dirs_exist_ok=True)
    train, evaluation, explain = _read("train"), _read("eval"), _read("explain")
    return {
        "name": name,
        "overrides": overrides,
        "precision": train["precision"],
        "image_size": train["image_size"],
        "epochs_run": train["epochs_run"],
        "best_epoch": train["best_epoch"],
        "train_seconds": train["seconds"],
        "train_images_per_second": train["train_images_per_second"],
        "val": evaluation["val"],
        "test": evaluation["test"],
        "localisation": {k: v for k, v in explain.items() if k != "split"},
    }


def _paired(keep: Path, a: str, b: str, split: str) -> dict:
    tables = [read_prediction_table(keep / run, split) for run in (a, b)]
    out = compare_tables(*tables, resamples=1000, seed=0, level=0.95)
    return {"split": split, "a": a, "b": b, "mean_auroc": out["mean_auroc"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="name or name:key=value,key=value")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--keep", type=Path, default=None, help="keep prediction tables here")
    args = parser.parse_args()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if dirty:
        raise SystemExit(f"commit or stash these first; every run starts from HEAD:\n{dirty}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        keep = args.keep or Path(tmp)
        keep.mkdir(parents=True, exist_ok=True)
        try:
            for spec in args.runs:
                name, _, rest = spec.partition(":")
                runs.append(_run(name, [o for o in rest.split(",") if o], keep))
                print(json.dumps(runs[-1]["val"]["mean_auroc"]), name, flush=True)
        finally:
            _restore()  # the runs are kept as DVC experiments
        first = runs[0]["name"]
        vs_first = [
            {
                "val": _paired(keep, first, r["name"], "val"),
                "test": _paired(keep, first, r["name"], "test"),
            }
            for r in runs[1:]
        ]
    means = {s: np.array([r[s]["mean_auroc"]["value"] for r in runs]) for s in ("val", "test")}
    pointing = np.array([r["localisation"]["pointing"]["value"] for r in runs])
    summary = {
        split: {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else None}
        for split, v in means.items()
    }
    summary["pointing"] = {
        "mean": float(pointing.mean()),
        "sd": float(pointing.std(ddof=1)) if len(pointing) > 1 else None,
    }
    result = {"runs": runs, "vs_first": vs_first, "spread": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
