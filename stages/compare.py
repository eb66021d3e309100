"""Command ``cxr compare``: paired difference in AUROC between two runs' prediction tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from cxr.atomic import write_json
from cxr.errors import InputError
from cxr.evaluation.compare import align_predictions, paired_difference
from cxr.findings import FINDINGS
from cxr.report.markdown import number, table


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: no such prediction table (evaluate writes data/predictions/)")
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as err:  # pyarrow and pandas raise many types for a bad file
        raise InputError(f"{path}: not a readable prediction table ({err})") from None


def main(
    a: Annotated[Path, typer.Argument(help="predictions of run A (.parquet or .csv)")],
    b: Annotated[Path, typer.Argument(help="predictions of run B, same images")],
    resamples: Annotated[int, typer.Option(help="patient bootstrap resamples")] = 1000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    level: Annotated[float, typer.Option(help="interval level")] = 0.95,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write JSON here")] = None,
) -> None:
    """Difference in mean and per-class AUROC (B - A), paired over the same patient resamples.

    Export a run's table with e.g. ``dvc exp apply <exp> && cp data/predictions/test.parquet
    run_b.parquet``.
    """
    left, right = align_predictions(_read(a), _read(b))
    y = left[list(FINDINGS)].to_numpy()
    p_a = left[[f"p_{n}" for n in FINDINGS]].to_numpy()
    p_b = right[[f"p_{n}" for n in FINDINGS]].to_numpy()
    result = paired_difference(y, p_a, p_b, left.patient_id.to_numpy(), resamples, seed, level)
    rows = [
        [
            "**mean**",
            number(result["mean_auroc_a"]),
            number(result["mean_auroc_b"]),
            *_cells(result["mean_auroc"]),
        ]
    ]
    rows += [[name, "", "", *_cells(d)] for name, d in result["auroc"].items()]
    header = ["AUROC", "A", "B", "B - A", f"{100 * level:.0f}% CI", "p"]
    typer.echo(
        f"{result['images']} images of {result['patients']} patients; "
        f"{resamples} paired patient resamples\n"
    )
    typer.echo(table(header, rows))
    if json_out is not None:
        write_json(json_out, {"a": str(a), "b": str(b), **result})


def _cells(d: dict) -> list[str]:
    ci = "n/a" if d["low"] is None else f"{d['low']:+.3f} to {d['high']:+.3f}"
    diff = "n/a" if d["difference"] is None else f"{d['difference']:+.3f}"
    return [diff, ci, number(d["p_value"])]
