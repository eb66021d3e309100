"""Stage ``external_report``: gather the sections the ``external@N`` stages wrote into
``reports/external.md``, in ``external.sets`` order."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import write_text
from cxr.config import ExternalSet
from cxr.errors import InputError
from cxr.external.report import external_markdown
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, value

SECTIONS = paths.REPORTS / "external"
REPORT = paths.REPORTS / "external.md"


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Write reports/external.md from reports/external/<name>.md of every set."""
    sets = value(load_params(params), "external.sets", tuple[ExternalSet, ...])
    sections = []
    for item in sets:
        part = SECTIONS / f"{item.name}.md"
        if not part.is_file():
            raise InputError(f"{part}: missing; run `dvc repro` (stage external@ of {item.name})")
        sections.append(part.read_text(encoding="utf-8"))
    write_text(REPORT, external_markdown(sections))
    typer.echo(f"external_report: {len(sections)} set(s) in {REPORT}")


if __name__ == "__main__":
    run(main)
