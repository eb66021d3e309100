"""Command ``cxr serve``: the Gradio app on a trained model (127.0.0.1 unless told otherwise)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from cxr.app import MAX_UPLOAD_MB, build_app
from cxr.device import pick_device
from cxr.export.folder import load_predictor
from stages import paths


def demo_examples(count: int = 4) -> list[str]:
    """A few test-split images of the demo data, when it is there."""
    index_file = paths.PROCESSED / "test.parquet"
    if not index_file.is_file():
        return []
    index = pd.read_parquet(index_file, columns=["path"])
    files = [paths.DEMO_DIR / p for p in index.path[:count]]
    return [str(f) for f in files if f.is_file()]


def main(
    model: Annotated[
        Path,
        typer.Option(help="checkpoint (fitted files beside it) or export folder"),
    ] = (paths.MODEL),
    host: Annotated[str, typer.Option(help="address to bind; 0.0.0.0 shares on the network")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="port (0: the first free one from 7860)")] = 0,
    share: Annotated[bool, typer.Option(help="also open a public gradio.live link")] = False,
    max_upload_mb: Annotated[float, typer.Option(help="largest upload accepted")] = MAX_UPLOAD_MB,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, ...")] = "auto",
) -> None:
    """Upload a PNG, JPEG or DICOM; see the 14 findings against their thresholds and GradCAM."""
    predictor = load_predictor(model, pick_device(device))
    for line in predictor.version_warnings:
        typer.echo(f"warning: {line}", err=True)
    app = build_app(predictor, demo_examples(), max_upload_mb)
    app.launch(
        server_name=host,
        server_port=port or None,
        share=share,
        max_file_size=f"{max_upload_mb}mb",
        show_error=True,
    )
