"""Command ``cxr predict``: findings for PNG, JPEG and DICOM files, optionally GradCAM overlays."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import pandas as pd
import typer
from tqdm.auto import tqdm

from cxr.atomic import atomic_path, write_json
from cxr.device import pick_device
from cxr.errors import InputError
from cxr.explain.gallery import Cell, overlay
from cxr.imaging.decode import DecodeError
from cxr.inference import Predictor, image_paths
from stages import paths


def main(
    inputs: Annotated[
        list[str], typer.Argument(help="files, folders, or @list.txt (one path per line)")
    ],
    out: Annotated[Path, typer.Option(help="results table: .csv or .json")] = Path(
        "predictions.csv"
    ),
    model: Annotated[
        Path, typer.Option(help="checkpoint; thresholds and calibration beside it")
    ] = paths.MODEL,
    cam: Annotated[
        Path | None, typer.Option(help="folder for GradCAM overlays of the positive findings")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="images per forward pass")] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
) -> None:
    """Per image: the 14 calibrated probabilities and the findings over their validation
    thresholds. Unreadable files get a row with their error; the exit code is 1 only when
    no file could be read."""
    if out.suffix.lower() not in (".csv", ".json"):
        raise InputError(f"--out {out}: use a .csv or .json file name")
    predictor = Predictor.load(model, device=pick_device(device))
    for line in predictor.version_warnings:
        typer.echo(f"warning: {line}", err=True)
    files = image_paths(inputs)
    if not files:
        raise InputError(f"no image files found in {inputs}")
    rows = []
    for start in tqdm(range(0, len(files), batch_size), desc="predict", unit="batch"):
        chunk = files[start : start + batch_size]
        images, ok = [], []
        for path in chunk:
            try:
                images.append(predictor.prepare(path))
                ok.append(path)
            except (DecodeError, OSError) as err:
                rows.append({"path": str(path), "error": str(err) or type(err).__name__})
        if not ok:
            continue
        images = np.stack(images)
        probs = predictor.probabilities(images, batch_size)
        cam_files = _overlays(predictor, images, probs, ok, cam) if cam else [[] for _ in ok]
        for path, p, written in zip(ok, probs, cam_files, strict=True):
            rows.append(
                {
                    "path": str(path),
                    "error": "",
                    **{f"p_{c}": float(v) for c, v in zip(predictor.classes, p, strict=True)},
                    "findings": ";".join(predictor.findings(p)),
                    **({"cams": ";".join(written)} if cam else {}),
                }
            )
    order = {str(p): i for i, p in enumerate(files)}
    table = pd.DataFrame(rows).sort_values("path", key=lambda s: s.map(order), kind="stable")
    if out.suffix.lower() == ".json":
        write_json(out, table.replace({np.nan: None}).to_dict(orient="records"))
    else:
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
    failed = int((table.error != "").sum())
    typer.echo(f"predict: {len(table) - failed} images scored, {failed} unreadable; {out}")
    if failed == len(table):
        raise typer.Exit(1)


def _overlays(predictor, images, probs, files, folder: Path) -> list[list[str]]:
    """One overlay PNG per (image, positive finding); the written paths per image."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = [
        (i, predictor.classes.index(f)) for i, p in enumerate(probs) for f in predictor.findings(p)
    ]
    written: list[list[str]] = [[] for _ in files]
    if not pairs:
        return written
    rows, classes = (np.array(x) for x in zip(*pairs, strict=True))
    maps = predictor.cams(images[rows], classes)
    for i, k, m in zip(rows, classes, maps, strict=True):
        name = predictor.classes[k]
        target = folder / f"{Path(files[i]).stem}__{name}.png"
        cell = Cell(images[i], m, np.zeros((0, 4)), f"{name} p={probs[i, k]:.2f}")
        with atomic_path(target) as tmp:
            tmp.write_bytes(cv2.imencode(".png", overlay(cell))[1].tobytes())
        written[i].append(str(target))
    return written
