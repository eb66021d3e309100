"""Command ``cxr check-export DIR``: the export's reference inputs through its weights with
PyTorch and through its ONNX graph with ONNX Runtime; the largest differences, and exit 1
when one is over the tolerance (``cxr.export.check``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.export.check import check_export


def main(folder: Annotated[Path, typer.Argument(help="an export folder (cxr export)")]) -> None:
    """Compare this install's outputs on the reference inputs with the exporting machine's."""
    report = check_export(folder)

    def shown(key: str) -> str:
        return "no graph" if report[key] is None else f"{report[key]:.2e}"

    typer.echo(
        f"check-export {folder}: {report['images']} reference images; largest logit "
        f"difference: PyTorch vs reference {shown('torch_vs_reference')}, ONNX Runtime vs "
        f"PyTorch {shown('onnx_vs_torch')}, ONNX Runtime vs reference "
        f"{shown('onnx_vs_reference')}; probabilities vs reference "
        f"{shown('probability_torch_vs_reference')} (tolerance {report['tolerance']:g})"
    )
    if not report["passed"]:
        typer.echo("check-export: FAILED: a difference is over the tolerance", err=True)
        raise typer.Exit(1)
