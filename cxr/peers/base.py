"""What every peer model is to cxr: a network, the input its authors gave it, and which of
its outputs is which NIH finding.

A peer's ``prepare`` turns a decoded 8-bit gray radiograph into exactly the
tensor the peer's own code makes from that image (tests compare it with the
installed peer's transforms). ``load`` reads a file as the peer's own code
reads it: by default through cxr's decoder and ``prepare``; a peer whose code
reads DICOMs its own way (torchxrayvision's datasets) supplies ``read``, told
which data set the file comes from (``rsna``, ``vindr``, ...; ``""``: unknown).
``logits`` runs the network and returns ``[N, 14]`` in ``FINDINGS`` order, NaN
where the peer has no output for a finding, so no metric scores it.

Example::

    peer = xrv_peer("densenet121-res224-nih", cache_dir=Path("~/.torchxrayvision/models_data"))
    x = np.stack([peer.load(path) for path in files])   # [N, 1, 224, 224]
    peer.logits(x)[:, FINDINGS.index("Hernia")]
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cxr.findings import FINDINGS
from cxr.imaging.decode import read_gray8


@dataclass(frozen=True)
class Provenance:
    """What a peer was trained on, and whether a user's test images may have been in it.

    ``datasets`` holds the same facts as keys (``nih``, ``chexpert``, ``mimic``,
    ``padchest``, ``vindr``, ``rsna``, ``siim``, ``google``, ``openi``: the keys of
    ``cxr.external.formats.Format.dataset``), so every figure on a set the peer
    trained on is flagged as not external for it."""

    trained_on: str  # e.g. "NIH ChestX-ray14 (random 70/10/20 image split)"
    nih_test_overlap: str  # e.g. "likely: its split is not NIH's official one"
    source: str  # where its weights come from
    datasets: frozenset[str] = frozenset()


@dataclass
class Peer:
    """A published model: ``outputs`` names each of its outputs (``""``: not trained)."""

    name: str
    model: nn.Module
    outputs: tuple[str, ...]
    prepare: Callable[[np.ndarray], np.ndarray]  # uint8 [H, W] -> float32 [C, S, S]
    provenance: Provenance
    weights: str  # the file its weights came from, or how they were made
    read: Callable[[Path, str], np.ndarray | None] | None = None  # None: not its own way

    def load(self, path: str | Path, source: str = "") -> np.ndarray:
        """The file as the peer's own code makes its input, float32 ``[C, S, S]``;
        ``source``: the data set it comes from (``cxr.external.formats.Format.dataset``)."""
        own = self.read(Path(path), source) if self.read is not None else None
        return own if own is not None else self.prepare(read_gray8(path))

    def fingerprint(self) -> str:
        """SHA-256 of the network's state (names, shapes, dtypes and bytes): the same for
        the same weights in any file format, so fitted calibration can be checked against it."""
        digest = hashlib.sha256()
        for key, tensor in sorted(self.model.state_dict().items()):
            value = tensor.detach().cpu().contiguous()
            digest.update(f"{key}:{tuple(value.shape)}:{value.dtype};".encode())
            digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    @property
    def columns(self) -> np.ndarray:
        """For each finding, the index of the peer's output for it, or -1."""
        return output_columns(self.outputs)

    @property
    def scored(self) -> tuple[str, ...]:
        return tuple(f for f, c in zip(FINDINGS, self.columns, strict=True) if c >= 0)

    @torch.inference_mode()
    def logits(self, inputs: np.ndarray, device: torch.device | None = None) -> np.ndarray:
        """``[N, 14]`` logits of prepared inputs ``[N, C, S, S]``, NaN for unscored findings."""
        device = device or torch.device("cpu")
        self.model.to(device).eval()
        raw = self.model(torch.from_numpy(np.ascontiguousarray(inputs)).to(device)).float().cpu()
        out = np.full((len(inputs), len(FINDINGS)), np.nan, dtype=np.float64)
        have = self.columns >= 0
        out[:, have] = raw.numpy()[:, self.columns[have]]
        return out


def output_columns(outputs: Sequence[str]) -> np.ndarray:
    """Index of each finding's output in ``outputs`` (-1 where there is none)."""
    return np.array([outputs.index(f) if f in outputs else -1 for f in FINDINGS])
