"""Stage ``demo``: generate the embedded demo data set in the NIH layout under data/raw/demo,
and a second hospital's in CheXpert's layout under data/raw/demo_external."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import write_json
from cxr.config import DemoConfig
from cxr.demo.generate import generate_demo
from cxr.external.demo_hospital import generate_second_hospital
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section

OUT_DIR = paths.DEMO_DIR
EXTERNAL_DIR = paths.DEMO_EXTERNAL_DIR
METRICS = paths.metrics_file("demo")


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Render the synthetic phantoms, their labels, boxes and split lists; then the second
    hospital's (``demo.external_images``; 0: none, and its folder removed)."""
    config = section(load_params(params), "demo", DemoConfig)
    metrics = generate_demo(OUT_DIR, config)
    typer.echo(f"demo: {metrics['images']} images of {metrics['patients']} patients in {OUT_DIR}")
    if config.external_images:
        external = generate_second_hospital(
            EXTERNAL_DIR, config.external_images, config.size, config.seed,
            render_size=config.render_size,
        )  # fmt: skip
        metrics["external"] = external
        typer.echo(
            f"demo: a second hospital, {external['images']} images of {external['patients']} "
            f"patients in CheXpert's layout in {EXTERNAL_DIR}"
        )
    else:  # DVC's out: present, and empty
        shutil.rmtree(EXTERNAL_DIR, ignore_errors=True)
        EXTERNAL_DIR.mkdir(parents=True)
    write_json(METRICS, metrics)


if __name__ == "__main__":
    run(main)
