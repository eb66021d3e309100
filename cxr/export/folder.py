"""Write an export folder and load a model back from one.

The folder (``cxr export``; docs/export.md)::

    model.safetensors   the weights, no pickle (cxr.export.weights)
    config.json         the record that rebuilds the network and its preprocessing,
                        the classes in order, the graph's inputs and output
    calibration.json    validation's calibration (evaluate's file, unchanged)
    thresholds.json     validation's thresholds (evaluate's file, unchanged)
    guard.npz           the input guard, where evaluate fitted one (no pickle)
    model.onnx          the forward pass: views in, logits out, dynamic batch
    README.md           the model card, with front matter model hubs read
    reference/          a few phantom films drawn for the export (never a patient's)
    reference.csv       their fp32 logits and probabilities on the exporting machine

``config.json`` lists every other file with its SHA-256, and a load checks them.

:func:`load_export` needs only this folder: no ``best.pt``, no ``data/``, no
training code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import torch

import cxr
from cxr.atomic import write_json
from cxr.config import PreprocessConfig
from cxr.evaluation.predict import ForwardPass
from cxr.export.graph import INPUT_NAMES, OUTPUT_NAME, export_onnx
from cxr.export.references import phantom_films
from cxr.export.weights import ExportError, load_weights, save_weights
from cxr.imaging.resize import CLAHE_MIN_SIDE
from cxr.inference import Predictor
from cxr.models.checkpoint import CheckpointError, ModelRecord
from cxr.models.registry import build_model
from cxr.views import Views

FORMAT = "cxr-export"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, ONNX, CARD = "model.safetensors", "config.json", "model.onnx", "README.md"
FITTED = ("calibration.json", "thresholds.json", "guard.npz")
REFERENCE, REFERENCE_DIR = "reference.csv", "reference"
#: Phantom films bundled as reference inputs (``cxr.export.references``).
REFERENCES = 8


def write_export(
    predictor: Predictor, fitted: Path, out: Path, card: str, onnx: bool = True,
    references: int = REFERENCES,
) -> dict:  # fmt: skip
    """Write the export of ``predictor`` into ``out`` (a new or temporary folder the caller
    renames into place): its weights, the fitted files in the folder ``fitted`` (evaluate's,
    beside ``best.pt``), the ONNX graph, ``references`` phantom films with their outputs
    and the model card ``card``; return what ``config.json`` says."""
    model, record = predictor.model, predictor.record
    out.mkdir(parents=True, exist_ok=True)
    # One metadata entry: safetensors writes a map of several in a random order, and the
    # file's bytes (and so its SHA-256 in config.json) would differ from run to run.
    save_weights(model, out / WEIGHTS, {"format": FORMAT})
    copied = [name for name in FITTED if (fitted / name).is_file()]
    for name in copied:
        shutil.copyfile(fitted / name, out / name)
    sides = record.preprocess.sizes[: model.input_views]
    if onnx:
        export_onnx(model, sides, out / ONNX)
    films = phantom_films(out / REFERENCE_DIR, references, record.preprocess.size)
    _write_references(predictor, films, out)
    (out / CARD).write_text(card, encoding="utf-8")
    files = [WEIGHTS, *copied, *([ONNX] if onnx else []), REFERENCE]
    config = _config(record, sides, {name: _sha256(out / name) for name in files}, onnx)
    write_json(out / CONFIG, config)
    return config


def load_export(folder: Path, device: torch.device | None = None) -> Predictor:
    """The predictor of an export folder: its network rebuilt from ``config.json``, every
    weight from ``model.safetensors`` (all keys, all shapes, or an error naming the file),
    the calibration, thresholds and guard beside them; every file ``config.json`` lists
    must be there with the bytes it lists (SHA-256), or the error names it."""
    config = read_config(folder)
    verify_files(folder, config)
    try:
        record = ModelRecord.from_payload(config["record"], folder / CONFIG)
    except (KeyError, CheckpointError) as err:
        raise ExportError(f"{folder / CONFIG}: no usable model record ({err})") from None
    model = build_model(record.model_config, num_classes=len(record.classes))
    load_weights(model, folder / WEIGHTS)
    return Predictor.from_parts(
        model, record, folder / "thresholds.json", folder / "calibration.json",
        folder / "guard.npz", device or torch.device("cpu"),
    )  # fmt: skip


def verify_files(folder: Path, config: dict) -> None:
    """Every file ``config.json`` lists is in ``folder`` with its SHA-256: a missing guard,
    a truncated graph or weights whose values changed (which safetensors alone does not
    notice) stop the load with the file named."""
    files = config.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files:
        raise ExportError(f"{folder / CONFIG}: lists no files with their SHA-256")
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            raise ExportError(f"{path}: missing, and {CONFIG} lists it; copy the whole export")
        if _sha256(path) != digest:
            raise ExportError(
                f"{path}: its SHA-256 is not the one {CONFIG} lists: changed or damaged "
                "since it was exported; export it again (`cxr export`)"
            )


def load_predictor(path: Path, device: torch.device | None = None) -> Predictor:
    """The predictor of an export folder, or of a ``best.pt`` with evaluate's files beside
    it: what ``cxr predict --model`` and ``cxr serve --model`` take."""
    return load_export(path, device) if path.is_dir() else Predictor.load(path, device=device)


def read_config(folder: Path) -> dict:
    """``config.json`` of an export, checked to be one this cxr reads."""
    path = folder / CONFIG
    if not folder.is_dir():
        raise ExportError(f"{folder}: not a folder; an export is the folder `cxr export` writes")
    if not path.is_file():
        raise ExportError(f"{path}: missing; {folder} is not a cxr export (`cxr export`)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ExportError(f"{path}: damaged, not JSON ({err})") from None
    if not isinstance(config, dict):
        raise ExportError(f"{path}: damaged, not a JSON object")
    if config.get("format") != FORMAT:
        raise ExportError(f"{path}: not a cxr export config (format {config.get('format')!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise ExportError(
            f"{path}: export format {config.get('format_version')}; this cxr reads {FORMAT_VERSION}"
        )
    return config


def reference_logits(predictor: Predictor, files: list[Path]) -> tuple[Views, pd.DataFrame]:
    """The reference images as the model's views and their fp32 CPU logits, one row each."""
    views = Views.stack([predictor.prepare(f) for f in files])
    run = ForwardPass(predictor.model, torch.device("cpu"), torch.float32)
    logits = run.logits(views)
    table = pd.DataFrame(logits, columns=[f"logit_{c}" for c in predictor.classes])
    return views, table


def _write_references(predictor: Predictor, films: list[Path], out: Path) -> None:
    """The ``films``' logits and calibrated probabilities, computed here in fp32 on the CPU,
    into ``reference.csv`` (paths relative to ``out``)."""
    _, logits = reference_logits(predictor, films)
    probs = predictor.calibration.apply(logits.to_numpy())
    table = pd.concat(
        [pd.DataFrame({"file": [f.relative_to(out).as_posix() for f in films]}), logits,
         pd.DataFrame(probs, columns=[f"p_{c}" for c in predictor.classes])], axis=1,
    )  # fmt: skip
    table.to_csv(out / REFERENCE, index=False, float_format="%.9g")


def _config(record: ModelRecord, sides: tuple[int, ...], files: dict[str, str], onnx: bool) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cxr_version": cxr.__version__,
        "torch_version": torch.__version__,
        "classes": list(record.classes),
        "inputs": [
            {
                "name": name,
                "shape": ["batch", 1, side, side],
                "dtype": "float32",
                "values": "the uint8 array preprocess makes, divided by 255",
            }
            for name, side in zip(INPUT_NAMES, sides, strict=False)
        ],
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", len(record.classes)],
            "then": "calibration.json, then thresholds.json",
        },
        "preprocessing": preprocessing(record.preprocess),
        "onnx": ONNX if onnx else None,
        "weights": WEIGHTS,
        "files": files,
        "record": record.to_payload(),
    }


def preprocessing(config: PreprocessConfig) -> dict:
    """How ``cxr.preprocess.prepare_arrays`` makes the input from a file, in words and
    numbers a reimplementation follows."""
    clahe_side = max(*config.sizes, CLAHE_MIN_SIDE)
    return {
        "decode": "8-bit gray (DICOM: VOI window, MONOCHROME1 inverted; cxr.imaging.decode)",
        "fit": (f"resize so the long side is {config.size} px, aspect kept, centred and "
                "zero-padded to a square" if config.keep_aspect
                else f"resize to {config.size} x {config.size} px, aspect not kept"),
        "clahe": ({"clip_limit": config.clahe_clip, "grid": config.clahe_grid,
                   "applied_at_long_side": clahe_side,
                   "resize": "INTER_AREA when shrinking, INTER_LINEAR when enlarging "
                             "(cxr.imaging.resize.resize_to), before and after CLAHE"}
                  if config.clahe else None),
        "sides": list(config.sizes),
        "settings": dataclasses.asdict(config),
    }  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
