"""Inference on new radiographs: the checkpoint, its preprocessing, calibration and thresholds.

``cxr predict`` and the Gradio app both go through :class:`Predictor`, and it
goes through the same preprocessing (``cxr.preprocess.prepare_arrays`` with
the settings stored in ``best.pt``), the same forward pass
(``cxr.evaluation.predict``) and the same calibration and thresholds (from
the evaluate stage) as the pipeline, so a file gets the probability the
evaluate stage gave the same image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from cxr.atomic import atomic_path
from cxr.config import PreprocessConfig
from cxr.device import compute_dtype, place
from cxr.environment import output_changing_differences
from cxr.errors import InputError
from cxr.evaluation.calibration import Calibration
from cxr.evaluation.fitted import read_fitted, read_thresholds
from cxr.evaluation.predict import ForwardPass
from cxr.explain.gallery import Cell, overlay
from cxr.explain.gradcam import gradcam_maps
from cxr.guard.distance import pooled_features
from cxr.guard.guard import Guard, Verdict
from cxr.imaging.decode import DecodeError
from cxr.models.checkpoint import ModelRecord, load_model
from cxr.models.contract import Classifier
from cxr.preprocess import prepare_arrays
from cxr.views import Views


@dataclass
class Predictor:
    """A loaded model with everything needed to turn a file into calibrated findings."""

    model: Classifier
    preprocess: PreprocessConfig
    classes: list[str]
    calibration: Calibration  # fitted on validation by the evaluate stage
    thresholds: np.ndarray  # [C]; chosen on validation
    device: torch.device
    record: ModelRecord | None = None  # what best.pt says of the model
    dtype: torch.dtype = torch.float32  # autocast's, from the model's precision and the device
    #: Libraries here that differ from the ones that made the model and can move its outputs.
    version_warnings: list[str] = field(default_factory=list)
    #: The input guard evaluate fitted beside the model (``guard.npz``); None for a model
    #: from before it existed, which then predicts with a warning.
    guard: Guard | None = None

    @classmethod
    def load(
        cls,
        model_path: str | Path,
        thresholds_path: str | Path | None = None,
        calibration_path: str | Path | None = None,
        device: torch.device | None = None,
    ) -> Predictor:
        """Load ``best.pt`` and, by default, the ``thresholds.json``, ``calibration.json``
        and ``guard.npz`` beside it; a missing threshold or calibration file is an error
        naming it (run the evaluate stage), a missing guard a warning."""
        model_path = Path(model_path)
        if not model_path.is_file():
            raise InputError(f"{model_path}: no model checkpoint (run `dvc repro train`)")
        model, record = load_model(model_path)
        folder = model_path.parent
        return cls.from_parts(
            model,
            record,
            Path(thresholds_path or folder / "thresholds.json"),
            Path(calibration_path or folder / "calibration.json"),
            folder / "guard.npz",
            device or torch.device("cpu"),
        )

    @classmethod
    def from_parts(
        cls,
        model: Classifier,
        record: ModelRecord,
        thresholds_file: Path,
        calibration_file: Path,
        guard_file: Path,
        device: torch.device,
    ) -> Predictor:
        """A predictor of ``model`` (described by ``record``) with the validation thresholds
        and calibration in those files and the input guard in ``guard_file`` (a missing
        guard is a warning: every file is then read as a frontal radiograph)."""
        classes = list(record.classes)
        threshold_values = read_thresholds(thresholds_file, classes)
        try:
            calibration_fit = Calibration.from_json(read_fitted(calibration_file), classes)
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(
                f"{calibration_file}: damaged or lacks {err}; rerun evaluate"
            ) from None
        place(model, device).eval()
        warnings = output_changing_differences(record.environment)
        if not guard_file.is_file():
            warnings.append(
                f"{guard_file}: no input guard was fitted for this model (rerun evaluate); "
                "every file is read as a frontal chest radiograph, whatever it is"
            )
        return cls(
            model=model,
            preprocess=record.preprocess,
            classes=classes,
            calibration=calibration_fit,
            thresholds=threshold_values,
            device=device,
            record=record,
            dtype=compute_dtype(device, record.model_config.precision),
            version_warnings=warnings,
            guard=Guard.load(guard_file) if guard_file.is_file() else None,
        )

    def forward(self, batch_size: int = 32) -> ForwardPass:
        """The model's forward pass where this predictor runs it."""
        return ForwardPass(self.model, self.device, self.dtype, batch_size)

    def prepare(self, path: str | Path) -> Views:
        """One file as the model's input (N = 1), exactly as preprocess makes it: one decode,
        one enhancement at the side preprocess enhanced at (every side it wrote counts, so
        a one-view model beside a sharper array gets the same contrast), then the views the
        model reads; raises ``DecodeError``."""
        arrays, _ = prepare_arrays(path, self.preprocess)
        return Views(*(a[None] for a in arrays[: self.model.input_views]))

    def probabilities(self, views: Views, batch_size: int = 32) -> np.ndarray:
        """Calibrated probabilities ``[N, C]``."""
        return self.calibration.apply(self.forward(batch_size).logits(views))

    def assess(self, views: Views, batch_size: int = 32) -> tuple[np.ndarray, Verdict | None]:
        """Calibrated probabilities ``[N, C]`` and the input guard's verdict (None without
        a guard), from one forward pass."""
        if self.guard is None:
            return self.probabilities(views, batch_size), None
        with pooled_features(self.model) as captured:
            probs = self.probabilities(views, batch_size)
        return probs, self.guard.check(views.images, np.concatenate(captured))

    def cams(self, views: Views, classes: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """GradCAM maps ``[N, S, S]`` in [0, 1] of each image for its class index."""
        return gradcam_maps(self.forward(batch_size), views, classes)

    def findings(self, probs: np.ndarray) -> list[str]:
        """Names of the findings at or over their validation threshold, most probable first."""
        return findings_over(probs, self.thresholds, self.classes)


class FilePredictor(Protocol):
    """What :func:`predict_files` needs: :class:`Predictor`, or a peer's
    (``cxr.peers.inference.PeerPredictor``)."""

    classes: list[str]

    def prepare(self, path: str | Path) -> Views: ...

    def probabilities(self, views: Views, batch_size: int = 32) -> np.ndarray: ...

    def findings(self, probs: np.ndarray) -> list[str]: ...


def findings_over(probs: np.ndarray, thresholds: np.ndarray, classes: list[str]) -> list[str]:
    """``classes`` whose probability is at or over its threshold (never a NaN one), most
    probable first."""
    over = np.flatnonzero(probs >= thresholds)
    return [classes[k] for k in over[np.argsort(-probs[over], kind="stable")]]


#: Suffixes taken from a folder (DICOM files often have none, so those are taken too).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")


def image_paths(inputs: list[str | Path]) -> list[Path]:
    """Files named on the command line, images found in folders (recursively), and the
    paths listed one per line in ``@list.txt`` arguments; order kept, duplicates dropped."""
    out: list[Path] = []
    for item in inputs:
        text = str(item)
        if text.startswith("@"):
            listing = Path(text[1:])
            if not listing.is_file():
                raise InputError(f"{listing}: list file not found")
            lines = listing.read_text(encoding="utf-8").splitlines()
            out += [Path(line.strip()) for line in lines if line.strip()]
        elif Path(text).is_dir():
            out += sorted(
                p
                for p in Path(text).rglob("*")
                if p.is_file()
                and not p.name.startswith(".")
                and (p.suffix.lower() in IMAGE_SUFFIXES or not p.suffix)
            )
        else:
            out.append(Path(text))  # a missing file becomes an error row, not a crash
    return list(dict.fromkeys(out))


def predict_files(
    predictor: FilePredictor,
    files: list[Path],
    batch_size: int = 32,
    cam: Path | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """One row per file, in ``files``' order: its calibrated probabilities ``p_<finding>``
    and the ``findings`` over their thresholds, or its ``error`` (an unreadable file is a
    row, never a crash). With ``cam``, a GradCAM overlay PNG per positive finding is
    written there and listed under ``cams`` (cxr's own model only).

    cxr's model with a fitted guard adds ``guard_distance`` (the out-of-distribution
    score), ``guard_flagged`` and ``guard_reason`` (why the file is refused, ``""`` where
    accepted); a refused file keeps its probabilities but lists no findings and gets no
    overlay unless ``force``.
    """
    if cam is not None and not isinstance(predictor, Predictor):
        raise InputError("GradCAM overlays (--cam) are built for cxr's own model, not a peer")
    rows: list[dict] = []
    for start in tqdm(range(0, len(files), batch_size), desc="predict", unit="batch"):
        chunk = files[start : start + batch_size]
        prepared, ok = [], []
        for path in chunk:
            try:
                prepared.append(predictor.prepare(path))
                ok.append(path)
            except (DecodeError, OSError) as err:
                rows.append({"path": str(path), "error": str(err) or type(err).__name__})
        if not ok:
            continue
        images = Views.stack(prepared)
        probs, verdict = (
            predictor.assess(images, batch_size)
            if isinstance(predictor, Predictor)
            else (predictor.probabilities(images, batch_size), None)
        )
        refused = np.zeros(len(ok), bool) if verdict is None or force else verdict.flagged
        shown = [[] if r else predictor.findings(p) for p, r in zip(probs, refused, strict=True)]
        cam_files = _overlays(predictor, images, probs, shown, ok, cam) if cam else None
        rows += _rows(predictor.classes, ok, probs, shown, verdict, cam_files)
    order = {str(p): i for i, p in enumerate(files)}
    return pd.DataFrame(rows).sort_values("path", key=lambda s: s.map(order), kind="stable")


def _rows(
    classes: list[str],
    files: list[Path],
    probs: np.ndarray,
    shown: list[list[str]],
    verdict: Verdict | None,
    cam_files: list[list[str]] | None,
) -> list[dict]:
    """The table rows of files read: path, guard columns (with a guard), probabilities,
    listed findings and, with overlays, their files."""
    rows = []
    for i, (path, p) in enumerate(zip(files, probs, strict=True)):
        guard = (
            {}
            if verdict is None
            else {
                "guard_distance": float(verdict.distances[i]),
                "guard_flagged": bool(verdict.flagged[i]),
                "guard_reason": verdict.reasons[i],
            }
        )
        rows.append(
            {
                "path": str(path),
                "error": "",
                **guard,
                **{f"p_{c}": float(v) for c, v in zip(classes, p, strict=True)},
                "findings": ";".join(shown[i]),
                **({} if cam_files is None else {"cams": ";".join(cam_files[i])}),
            }
        )
    return rows


def _overlays(
    predictor: Predictor,
    images: Views,
    probs: np.ndarray,
    shown: list[list[str]],
    files: list[Path],
    folder: Path,
) -> list[list[str]]:
    """One overlay PNG per (image, finding listed for it); the written paths per image."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = [(i, predictor.classes.index(f)) for i, names in enumerate(shown) for f in names]
    written: list[list[str]] = [[] for _ in files]
    if not pairs:
        return written
    rows, classes = (np.array(x) for x in zip(*pairs, strict=True))
    maps = predictor.cams(images.take(rows), classes)
    for i, k, m in zip(rows, classes, maps, strict=True):
        name = predictor.classes[k]
        target = folder / f"{Path(files[i]).stem}__{name}.png"
        cell = Cell(images.images[i], m, np.zeros((0, 4)), f"{name} p={probs[i, k]:.2f}")
        with atomic_path(target) as tmp:
            tmp.write_bytes(cv2.imencode(".png", overlay(cell))[1].tobytes())
        written[i].append(str(target))
    return written
