"""Command ``cxr compare``: paired difference in AUROC between two runs' prediction tables.

Experiments are chosen on validation, so validation is the default; a test
comparison needs ``--test`` and is printed and saved as a final report, not
a basis for choosing (choosing on test flatters the winner's test score).
"""

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

FINAL_REPORT = (
    "FINAL REPORT on the test split: not a basis for choosing between these runs "
    "(choose on validation, then report test once)."
)
CHOOSING = "Validation split: compare and choose here; report the chosen run on test once."


def _read(path: Path, split: str) -> pd.DataFrame:
    """A prediction table, or ``<split>.parquet`` inside a predictions folder; split checked."""
    if path.is_dir():
        path = path / f"{split}.parquet"
    if not path.is_file():
        raise InputError(
            f"{path}: no such prediction table (evaluate writes data/predictions/{split}.parquet)"
        )
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as err:  # pyarrow and pandas raise many types for a bad file
        raise InputError(f"{path}: not a readable prediction table ({err})") from None
    if "split" not in frame:
        raise InputError(
            f"{path}: the table does not say which split it holds (no 'split' column; "
            "tables from before this check lack it): rerun evaluate (`dvc repro evaluate`)"
        )
    found = sorted(set(frame["split"].astype(str)))
    if found != [split]:
        hint = (
            "pass the validation tables (data/predictions/val.parquet) to choose, "
            "or add --test for the final report"
            if split == "val"
            else "--test compares test tables only"
        )
        raise InputError(f"{path}: holds the {', '.join(found)} split, not {split}: {hint}")
    return frame


def main(
    a: Annotated[Path, typer.Argument(help="run A: a prediction table, or a predictions folder")],
    b: Annotated[Path, typer.Argument(help="run B: the same images")],
    test: Annotated[
        bool, typer.Option("--test", help="compare test predictions: a final report only")
    ] = False,
    resamples: Annotated[int, typer.Option(help="patient bootstrap resamples")] = 1000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    level: Annotated[float, typer.Option(help="interval level")] = 0.95,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write JSON here")] = None,
) -> None:
    """Difference in mean and per-class AUROC (B - A), paired over the same patient resamples.

    Validation predictions by default (choose experiments there); ``--test`` for the final
    report. Keep a run's tables with e.g. ``cp -r data/predictions baseline`` before
    ``dvc exp apply <exp>``, then ``cxr compare baseline data/predictions``.
    """
    split = "test" if test else "val"
    left, right = align_predictions(_read(a, split), _read(b, split))
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
    purpose = FINAL_REPORT if test else CHOOSING
    typer.echo(
        f"{purpose}\n{result['images']} {split} images of {result['patients']} patients; "
        f"{resamples} paired patient resamples\n"
    )
    typer.echo(table(header, rows))
    if json_out is not None:
        write_json(
            json_out,
            {
                "a": str(a),
                "b": str(b),
                "split": split,
                "purpose": "final report" if test else "choosing",
                **result,
            },
        )


def _cells(d: dict) -> list[str]:
    ci = "n/a" if d["low"] is None else f"{d['low']:+.3f} to {d['high']:+.3f}"
    diff = "n/a" if d["difference"] is None else f"{d['difference']:+.3f}"
    return [diff, ci, number(d["p_value"])]
