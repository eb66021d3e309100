"""Command ``cxr predict``: findings for PNG, JPEG and DICOM files, optionally GradCAM overlays;
by cxr's model or by a published one scored with ``cxr score``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from cxr.atomic import atomic_path, write_json
from cxr.device import pick_device
from cxr.errors import InputError
from cxr.export.folder import load_predictor
from cxr.inference import FilePredictor, image_paths, predict_files
from cxr.peers.inference import PeerPredictor
from cxr.peers.registry import folder_name, is_peer
from stages import paths

Inputs = Annotated[
    list[str], typer.Argument(help="files, folders, or @list.txt (one path per line)")
]
Out = Annotated[Path, typer.Option(help="results table: .csv or .json")]
Model = Annotated[str, typer.Option(help="checkpoint (thresholds and calibration beside it), an "
                                    "export folder (cxr export), or a peer: xrv:<weights> or "
                                    "chexnet:<file>")]  # fmt: skip
Scores = Annotated[
    Path | None, typer.Option(help="a peer's `cxr score` folder (default data/peers/<its name>)")
]
XrvCache = Annotated[
    Path | None, typer.Option(help="torchxrayvision's weights folder, for an xrv peer")
]
RandomInit = Annotated[
    bool, typer.Option("--random-init", help="an xrv peer at cxr score's random weights")
]
Cam = Annotated[
    Path | None, typer.Option(help="folder for GradCAM overlays of the positive findings")
]
Force = Annotated[bool, typer.Option("--force", help="list findings even for files the "
                  "input guard refuses (not a frontal radiograph, or unlike the training "
                  "data)")]  # fmt: skip
BatchSize = Annotated[int, typer.Option(help="images per forward pass")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")]


def main(
    inputs: Inputs,
    out: Out = Path("predictions.csv"),
    model: Model = str(paths.MODEL),
    scores: Scores = None,
    xrv_cache: XrvCache = None,
    random_init: RandomInit = False,
    cam: Cam = None,
    force: Force = False,
    batch_size: BatchSize = 32,
    device: Device = "auto",
) -> None:
    """Per image: the 14 calibrated probabilities and the findings over their validation
    thresholds (a peer's from `cxr score`; empty where it has no output). Files the input
    guard refuses (`guard_flagged`; `guard_reason`: not a radiograph, lateral view,
    inverted, rotated, unlike the training data) keep their probabilities but list no
    findings unless --force.
    Unreadable files get a row with their error; the exit code is 1 only when no file could
    be read."""
    if out.suffix.lower() not in (".csv", ".json"):
        raise InputError(f"--out {out}: use a .csv or .json file name")
    predictor = _predictor(model, scores, xrv_cache, random_init, pick_device(device))
    files = image_paths(inputs)
    if not files:
        raise InputError(f"no image files found in {inputs}")
    table = predict_files(predictor, files, batch_size, cam, force)
    if out.suffix.lower() == ".json":
        write_json(out, table.replace({np.nan: None}).to_dict(orient="records"))
    else:
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
    _summary(table, out, force)


def _predictor(
    model: str, scores: Path | None, xrv_cache: Path | None, random_init: bool, device
) -> FilePredictor:
    """cxr's checkpoint or export folder, or a peer with its ``cxr score`` calibration and
    thresholds."""
    if is_peer(model):
        folder = scores or paths.PEERS / folder_name(model)
        return PeerPredictor.load(model, folder, xrv_cache, random_init, device)
    if scores or xrv_cache or random_init:
        raise InputError(
            "--scores, --xrv-cache and --random-init are for a peer (--model xrv:... or "
            f"chexnet:...); {model} is a checkpoint, with its own calibration beside it"
        )
    predictor = load_predictor(Path(model), device)  # best.pt, or an export folder
    for line in predictor.version_warnings:
        typer.echo(f"warning: {line}", err=True)
    return predictor


def _summary(table: pd.DataFrame, out: Path, force: bool) -> None:
    """Counts of scored, refused and unreadable files; exit 1 when none could be read."""
    failed = int((table.error != "").sum())
    refused = table["guard_reason"].fillna("") if "guard_reason" in table else None
    flagged = "" if refused is None else f", {int((refused != '').sum())} refused by the guard"
    typer.echo(f"predict: {len(table) - failed} images scored{flagged}, {failed} unreadable; {out}")
    if refused is not None and (refused != "").any():
        for reason, n in refused[refused != ""].value_counts().items():
            typer.echo(f"  {n} {reason}" + (" (findings listed: --force)" if force else ""))
    if failed == len(table):
        raise typer.Exit(1)
