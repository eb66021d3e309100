"""Command ``cxr compare``: paired difference in AUROC between two runs' prediction tables.

Experiments are chosen on validation, so validation is the default; a test
comparison needs ``--test`` and is printed and saved as a final report, not
a basis for choosing (choosing on test flatters the winner's test score).
``--external`` compares two models on an external set (``data/external/<name>``),
a final report too: each finding on the images whose label is known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import write_json
from cxr.errors import InputError
from cxr.evaluation.compare import EXTERNAL, compare_tables, read_prediction_table
from cxr.numbers import units
from cxr.report.comparison import comparison_table

FINAL_REPORT = (
    "FINAL REPORT on the test split: not a basis for choosing between these runs "
    "(choose on validation, then report test once)."
)
CHOOSING = "Validation split: compare and choose here; report the chosen run on test once."
EXTERNAL_REPORT = (
    "FINAL REPORT on an external set (or an NIH re-read such as RSNA's or SIIM's: NIH's own "
    "films): not a basis for choosing between these runs (choose on validation)."
)


RunA = Annotated[Path, typer.Argument(help="run A: a prediction table, or a predictions folder")]
RunB = Annotated[Path, typer.Argument(help="run B: the same images")]
Test = Annotated[bool, typer.Option("--test", help="compare test predictions: a final report only")]
External = Annotated[
    bool, typer.Option("--external", help="compare predictions on an external set: a final report")
]
Resamples = Annotated[
    int, typer.Option(help="bootstrap resamples (of patients, or images where none)")
]
Seed = Annotated[int, typer.Option(help="bootstrap seed")]
Level = Annotated[float, typer.Option(help="interval level")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="also write JSON here")]


def main(
    a: RunA,
    b: RunB,
    test: Test = False,
    external: External = False,
    resamples: Resamples = 1000,
    seed: Seed = 0,
    level: Level = 0.95,
    json_out: JsonOut = None,
) -> None:
    """Difference in mean and per-class AUROC (B - A), paired over the same patient resamples.

    Validation predictions by default (choose experiments there); ``--test`` for the final
    report; ``--external`` for an external set's (``data/external/<name>``). Keep a run's
    tables with e.g. ``cp -r data/predictions baseline`` before ``dvc exp apply <exp>``,
    then ``cxr compare baseline data/predictions``.
    """
    if test and external:
        raise InputError("--test and --external: compare one split at a time")
    split = EXTERNAL if external else "test" if test else "val"
    tables = read_prediction_table(a, split), read_prediction_table(b, split)
    result = compare_tables(*tables, resamples, seed, level)
    purpose = EXTERNAL_REPORT if external else FINAL_REPORT if test else CHOOSING
    typer.echo(
        f"{purpose}\n{result['images']} {split} images; {resamples} paired resamples of "
        f"{units(result['unit'])}\n"
    )
    typer.echo(comparison_table(result, level))
    if json_out is not None:
        purpose = "final report" if test or external else "choosing"
        write_json(json_out, {"a": str(a), "b": str(b), "split": split, "purpose": purpose,
                              **result})  # fmt: skip
