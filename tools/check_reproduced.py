"""Check that stages just rerun by ``dvc repro`` reproduced the committed results.

``.ci/run`` runs ``dvc repro demo ingest preprocess`` on a clean clone, then this. For
each named stage it compares what ``dvc.lock`` now records with the committed
``dvc.lock`` (``git show HEAD:dvc.lock``): every cached output by hash, every metrics
file by content with its timing fields (and resolved worker counts) left out: they
are the only ones allowed to differ. A difference is an error that names the stage
and the output, and exits 1.

Usage: ``python -m tools.check_reproduced demo ingest preprocess [--against REV]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]


def is_timing(key: str) -> bool:
    """Fields that measure the machine, not the result: ``seconds``, ``images_per_second``,
    and ``workers`` (the worker count resolved from ``workers: 0``, all cores)."""
    return key in ("seconds", "workers") or key.endswith(("_seconds", "_per_second"))


def without_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if not is_timing(k)}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def _git_show(root: Path, rev: str, path: str) -> str:
    return subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def _outs(lock: dict, stage: str) -> dict[str, dict]:
    if stage not in lock.get("stages", {}):
        raise SystemExit(f"error: dvc.lock has no stage {stage!r}")
    return {o["path"]: o for o in lock["stages"][stage].get("outs", [])}


def differences(stages: list[str], against: str = "HEAD", root: Path = ROOT) -> list[str]:
    """One line per output of ``stages`` that differs from the ``against`` revision."""
    yaml = YAML(typ="safe")
    now = yaml.load((root / "dvc.lock").read_text())
    committed = yaml.load(_git_show(root, against, "dvc.lock"))
    metrics = set(yaml.load((root / "dvc.yaml").read_text()).get("metrics", []))
    found = []
    for stage in stages:
        outs_now, outs_then = _outs(now, stage), _outs(committed, stage)
        for path in sorted(outs_now.keys() | outs_then.keys()):
            new, old = outs_now.get(path), outs_then.get(path)
            if new is None or old is None:
                found.append(f"stage {stage}: output {path} is only in one dvc.lock")
            elif path in metrics:
                here = without_timing(json.loads((root / path).read_text()))
                there = without_timing(json.loads(_git_show(root, against, path)))
                if here != there:
                    keys = sorted(
                        k for k in here.keys() | there.keys() if here.get(k) != there.get(k)
                    )
                    found.append(f"stage {stage}: metrics {path} differ in {keys}")
            elif new.get("md5") != old.get("md5"):
                found.append(
                    f"stage {stage}: output {path} hashed {new.get('md5')} ({new.get('size')} "
                    f"bytes), committed {old.get('md5')} ({old.get('size')} bytes)"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="+")
    parser.add_argument("--against", default="HEAD", help="git revision of the committed lock")
    args = parser.parse_args(argv)
    found = differences(args.stages, args.against)
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    if found:
        print(
            "error: the committed results do not reproduce here. Same versions? "
            "(pip install -c requirements-lock.txt). A changed stage whose dvc.lock was not "
            "recommitted? See docs/environment.md.",
            file=sys.stderr,
        )
        return 1
    print(f"reproduced: {', '.join(args.stages)} match {args.against}'s dvc.lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
