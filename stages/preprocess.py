"""Stage ``preprocess``: decode every image once into per-split uint8 memmaps (data/processed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from cxr.atomic import atomic_path, clean_stale_temporaries, write_json
from cxr.config import PreprocessConfig
from cxr.preprocess import preprocess
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section, value

METADATA = paths.METADATA
OUT_DIR = paths.PROCESSED
METRICS = paths.metrics_file("preprocess")


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Write <split>.npy, <split>.parquet and rejected.csv; list every rejected file."""
    values = load_params(params)
    raw_dir = value(values, "ingest.raw_dir", str)
    config = section(values, "preprocess", PreprocessConfig)
    meta = pd.read_parquet(METADATA)
    # A killed run leaves its half-written .processed.tmp-* folder in data/ (gigabytes on
    # NIH) where nothing would read it; the other stages' outputs live in subfolders.
    for stale in clean_stale_temporaries(OUT_DIR.parent):
        typer.echo(f"preprocess: removed {stale}, left by a run that was killed")
    with atomic_path(OUT_DIR) as tmp:
        metrics = preprocess(meta, raw_dir, tmp, config)
    write_json(METRICS, metrics)
    typer.echo(
        f"preprocess: {metrics['images']} images at {' and '.join(map(str, config.sizes))} px "
        f"({metrics['images_per_second']} img/s); {metrics['rejected']} rejected, "
        f"listed in {OUT_DIR / 'rejected.csv'}"
    )


if __name__ == "__main__":
    run(main)
