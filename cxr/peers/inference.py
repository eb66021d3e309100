"""Inference with a published model (``cxr.peers``) on new files, with the calibration and
thresholds ``cxr score`` fitted for it on cxr's validation split.

``cxr predict --model xrv:densenet121-res224-nih`` goes through
:class:`PeerPredictor`: each file read as ``cxr score`` reads the split's files
and fed as the peer's own code feeds it (``Peer.load``), its logits calibrated
and thresholded as ``cxr score`` did, so a file gets the probability ``cxr score``
gave the same image. (A DICOM's data set is not known here: a torchxrayvision peer
reads it as its ``VinDr_Dataset`` does, where ``cxr score`` on an RSNA or SIIM set
reads it as those sets' classes do, over 255 instead of 256.) The scores folder
records the weights' fingerprint; weights that differ from it are refused, since
their calibration was fitted to other outputs.

Example::

    predictor = PeerPredictor.load("xrv:densenet121-res224-nih",
                                   Path("data/peers/xrv-densenet121-res224-nih"))
    table = predict_files(predictor, [Path("film.png")])   # NaN for unscored findings
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cxr.errors import InputError
from cxr.evaluation.calibration import Calibration
from cxr.evaluation.fitted import read_fitted, read_thresholds
from cxr.findings import FINDINGS
from cxr.inference import findings_over
from cxr.peers.base import Peer
from cxr.peers.registry import load_peer
from cxr.views import Views


@dataclass
class PeerPredictor:
    """A peer with what ``cxr score`` fitted for it on validation."""

    peer: Peer
    calibration: Calibration  # [14]
    thresholds: np.ndarray  # [14]; NaN where the peer has no output
    device: torch.device
    classes: list[str] = field(default_factory=lambda: list(FINDINGS))

    @classmethod
    def load(
        cls,
        spec: str,
        scores: str | Path,
        xrv_cache: str | Path | None = None,
        random_init: bool = False,
        device: torch.device | None = None,
    ) -> PeerPredictor:
        """The peer ``spec`` and the fitted files in ``scores`` (``cxr score``'s folder);
        an error naming the folder when they are missing or were fitted for other weights."""
        scores = Path(scores)
        flags = f"{f' --xrv-cache {xrv_cache}' if xrv_cache else ''}"
        flags += " --random-init" if random_init else ""
        rerun = (
            f"`cxr score --model {spec}{flags} --out {scores}` writes it (`dvc repro` for a "
            "peer of peers.models)"
        )
        fitted_for = read_fitted(scores / "metrics.json", rerun).get("weights_sha256")
        peer = load_peer(spec, xrv_cache, random_init)  # after the cheap checks
        if fitted_for is None:
            raise InputError(f"{scores}: scored before weights were fingerprinted; {rerun}")
        if fitted_for != peer.fingerprint():
            raise InputError(
                f"{scores} was fitted for other weights than {spec}'s ({peer.weights}): its "
                f"calibration and thresholds do not apply; {rerun}, or point --scores at the "
                "folder scored with these weights"
            )
        scored = list(peer.scored)
        thresholds = np.full(len(FINDINGS), np.nan)
        thresholds[[FINDINGS.index(f) for f in scored]] = read_thresholds(
            scores / "thresholds.json", scored, rerun
        )
        fitted = read_fitted(scores / "calibration.json", rerun)
        try:
            calibration = Calibration.from_json(fitted, FINDINGS)
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(
                f"{scores / 'calibration.json'}: damaged or lacks {err}; {rerun}"
            ) from None
        return cls(peer, calibration, thresholds, device or torch.device("cpu"))

    def prepare(self, path: str | Path) -> Views:
        """One file as the peer's input (N = 1); raises ``DecodeError``."""
        return Views(self.peer.load(Path(path))[None])

    def probabilities(self, views: Views, batch_size: int = 32) -> np.ndarray:
        """Calibrated probabilities ``[N, 14]``, NaN for the findings the peer lacks."""
        logits = [
            self.peer.logits(views.images[s : s + batch_size], self.device)
            for s in range(0, len(views.images), batch_size)
        ]
        return self.calibration.apply(np.concatenate(logits))

    def findings(self, probs: np.ndarray) -> list[str]:
        return findings_over(probs, self.thresholds, self.classes)
