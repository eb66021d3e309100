"""Command ``cxr predict``: findings for PNG, JPEG and DICOM files, optionally GradCAM overlays;
by cxr's model or by a published one scored with ``cxr score``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from cxr.atomic import atomic_path, write_json
from cxr.device import pick_device
from cxr.errors import InputError
from cxr.inference import FilePredictor, Predictor, image_paths, predict_files
from cxr.peers.inference import PeerPredictor
from cxr.peers.registry import folder_name, is_peer
from stages import paths


def main(
    inputs: Annotated[
        list[str], typer.Argument(help="files, folders, or @list.txt (one path per line)")
    ],
    out: Annotated[Path, typer.Option(help="results table: .csv or .json")] = Path(
        "predictions.csv"
    ),
    model: Annotated[
        str,
        typer.Option(
            help="checkpoint (thresholds and calibration beside it), or a peer: "
            "xrv:<weights> or chexnet:<file>"
        ),
    ] = str(paths.MODEL),
    scores: Annotated[
        Path | None,
        typer.Option(help="a peer's `cxr score` folder (default data/peers/<its name>)"),
    ] = None,
    xrv_cache: Annotated[
        Path | None, typer.Option(help="torchxrayvision's weights folder, for an xrv peer")
    ] = None,
    random_init: Annotated[
        bool, typer.Option("--random-init", help="an xrv peer at cxr score's random weights")
    ] = False,
    cam: Annotated[
        Path | None, typer.Option(help="folder for GradCAM overlays of the positive findings")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="list findings even for files the input guard refuses (not a frontal "
            "radiograph, or unlike the training data)",
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option(help="images per forward pass")] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
) -> None:
    """Per image: the 14 calibrated probabilities and the findings over their validation
    thresholds (a peer's from `cxr score`; empty where it has no output). Files the input
    guard refuses (`guard_reason`: not a radiograph, lateral view, inverted, rotated, unlike
    the training data) keep their probabilities but list no findings unless --force.
    Unreadable files get a row with their error; the exit code is 1 only when no file could
    be read."""
    if out.suffix.lower() not in (".csv", ".json"):
        raise InputError(f"--out {out}: use a .csv or .json file name")
    predictor: FilePredictor
    if is_peer(model):
        folder = scores or paths.PEERS / folder_name(model)
        where = pick_device(device)
        predictor = PeerPredictor.load(model, folder, xrv_cache, random_init, where)
    else:
        if scores or xrv_cache or random_init:
            raise InputError(
                "--scores, --xrv-cache and --random-init are for a peer (--model xrv:... or "
                f"chexnet:...); {model} is a checkpoint, with its own calibration beside it"
            )
        predictor = Predictor.load(model, device=pick_device(device))
        for line in predictor.version_warnings:
            typer.echo(f"warning: {line}", err=True)
    files = image_paths(inputs)
    if not files:
        raise InputError(f"no image files found in {inputs}")
    table = predict_files(predictor, files, batch_size, cam, force)
    if out.suffix.lower() == ".json":
        write_json(out, table.replace({np.nan: None}).to_dict(orient="records"))
    else:
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
    failed = int((table.error != "").sum())
    refused = table["guard_reason"].fillna("") if "guard_reason" in table else None
    flagged = "" if refused is None else f", {int((refused != '').sum())} refused by the guard"
    typer.echo(f"predict: {len(table) - failed} images scored{flagged}, {failed} unreadable; {out}")
    if refused is not None and (refused != "").any():
        for reason, n in refused[refused != ""].value_counts().items():
            typer.echo(f"  {n} {reason}" + (" (findings listed: --force)" if force else ""))
    if failed == len(table):
        raise typer.Exit(1)
