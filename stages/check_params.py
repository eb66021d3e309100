"""Stage ``params``: check every key of params.yaml against its type and range, first.

DVC deletes a stage's outputs before it runs the stage's command, so a stage
that refuses a bad value itself would already have lost its old outputs. Every
other stage depends on this one's marker file, so DVC runs it first; a value
out of range stops ``dvc repro`` and ``dvc exp run -S`` here, with the key, the
value and what is allowed, and every output of the pipeline untouched. The
marker's bytes never change, so passing the check reruns nothing downstream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import write_text
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params

MARKER_TEXT = "params.yaml: every key has its type and is within its range (cxr/config.py)\n"


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Refuse params.yaml (exit 2) if any key has a wrong type or is out of range."""
    load_params(params)
    write_text(paths.PARAMS_CHECKED, MARKER_TEXT)
    typer.echo(f"params: {params} passed the range checks")


if __name__ == "__main__":
    run(main)
