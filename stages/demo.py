"""Stage ``demo``: generate the embedded demo data set in the NIH layout under data/raw/demo,
and two more hospitals' in CheXpert's layout under data/raw/demo_external (the external
set) and data/raw/demo_third (held out of every model: the sources stage)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import write_json
from cxr.config import DemoConfig
from cxr.demo.generate import generate_demo
from cxr.external.demo_hospital import SECOND, THIRD, generate_hospital
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section

OUT_DIR = paths.DEMO_DIR
EXTERNAL_DIR = paths.DEMO_EXTERNAL_DIR
THIRD_DIR = paths.DEMO_THIRD_DIR
METRICS = paths.metrics_file("demo")


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Render the synthetic phantoms, their labels, boxes and split lists; then the second
    hospital's (``demo.external_images``) and the third's (``demo.third_images``; 0: none,
    and its folder removed)."""
    config = section(load_params(params), "demo", DemoConfig)
    metrics = generate_demo(OUT_DIR, config)
    typer.echo(f"demo: {metrics['images']} images of {metrics['patients']} patients in {OUT_DIR}")
    hospitals = (("external", "second", config.external_images, SECOND, EXTERNAL_DIR),
                 ("third", "third", config.third_images, THIRD, THIRD_DIR))  # fmt: skip
    for key, label, images, hospital, folder in hospitals:
        if not images:  # DVC's out: present, and empty
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            continue
        metrics[key] = generate_hospital(
            folder, images, config.size, config.seed, hospital, render_size=config.render_size
        )
        typer.echo(
            f"demo: the {label} hospital, {metrics[key]['images']} images of "
            f"{metrics[key]['patients']} patients in CheXpert's layout in {folder}"
        )
    write_json(METRICS, metrics)


if __name__ == "__main__":
    run(main)
