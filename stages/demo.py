"""Stage ``demo``: generate the embedded demo data set in the NIH layout under data/raw/demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import write_json
from cxr.config import DemoConfig
from cxr.demo.generate import generate_demo
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section

OUT_DIR = paths.DEMO_DIR
METRICS = paths.metrics_file("demo")


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Render the synthetic phantoms, their labels, boxes and split lists."""
    config = section(load_params(params), "demo", DemoConfig)
    metrics = generate_demo(OUT_DIR, config)
    write_json(METRICS, metrics)
    typer.echo(f"demo: {metrics['images']} images of {metrics['patients']} patients in {OUT_DIR}")


if __name__ == "__main__":
    run(main)
