"""Stage ``peers_report``: cxr's model and every peer of ``peers.models`` in the same tables,
``reports/peers.md`` (``cxr.peers.table``), from the figures their own stages wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import write_text
from cxr.config import ExternalSet, PeerModel
from cxr.errors import InputError
from cxr.peers.table import peers_table_markdown
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, value

REPORT = paths.REPORTS / "peers.md"


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Write reports/peers.md."""
    all_params = load_params(params)
    models = value(all_params, "peers.models", tuple[PeerModel, ...])
    sets = value(all_params, "external.sets", tuple[ExternalSet, ...])
    level = value(all_params, "evaluate.confidence", float)
    ours = _read(paths.REPORTS / "evaluation.json", "evaluate")
    peers = {m.name: _read(paths.REPORTS / "peers" / f"{m.name}.json", "peer@N") for m in models}
    external = {
        s.name: _read(paths.REPORTS / "external" / f"{s.name}.json", "external@N") for s in sets
    }
    write_text(REPORT, peers_table_markdown(ours, peers, external, level))
    typer.echo(f"peers_report: cxr's model and {len(peers)} peer(s) in {REPORT}")


def _read(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: missing; run `dvc repro` (stage {stage} writes it)")
    return json.loads(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    run(main)
