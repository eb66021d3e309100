"""Stage ``ingest``: label file, image files and patient split -> data/interim tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import atomic_path, write_json
from cxr.config import IngestConfig
from cxr.external.sources import ingest_sources
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section

OUT_DIR = paths.INTERIM
METRICS = paths.metrics_file("ingest")


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Read the raw folder (and ingest.sources), split each by patient, and write metadata,
    boxes and rejections."""
    config = section(load_params(params), "ingest", IngestConfig)
    result = ingest_sources(config)
    tables = (("metadata", result.metadata), ("boxes", result.boxes), ("expert", result.expert))
    for name, frame in tables:
        with atomic_path(OUT_DIR / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
    with atomic_path(OUT_DIR / "rejected.csv") as tmp:
        result.rejected.to_csv(tmp, index=False)
    write_json(METRICS, result.metrics)
    m = result.metrics
    sizes = ", ".join(f"{k} {v['images']}" for k, v in m["splits"].items())
    typer.echo(
        f"ingest: {m['images']} images of {m['patients']} patients ({sizes}); "
        f"{m['rejected']} rejected, listed in {OUT_DIR / 'rejected.csv'}"
    )


if __name__ == "__main__":
    run(main)
