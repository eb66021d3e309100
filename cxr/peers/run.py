"""Score one published model beside cxr's, writing its folder: ``cxr score`` and the
``peer@N`` stage both call :func:`score_model`.

The peer reads each original file as its own code would (``cxr.peers``), gets its
calibration and thresholds fitted on validation as evaluate fits cxr's, and is
compared with cxr's model on the same test patients' resamples; with external
sets, on each of them too. The folder (``data/peers/<name>/``) holds
``val.parquet`` and ``test.parquet`` (prediction tables ``cxr compare`` takes),
``external/<set>.parquet``, ``metrics.json``, the fitted thresholds and
calibration, and ``report.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from cxr.atomic import atomic_path, write_json
from cxr.config import EvaluateConfig, ExternalConfig, ExternalSet
from cxr.device import pick_device
from cxr.errors import InputError
from cxr.evaluation.compare import EXTERNAL, compare_tables
from cxr.evaluation.fitted import write_fitted
from cxr.external.formats import FORMATS
from cxr.peers.base import Peer
from cxr.peers.registry import load_peer
from cxr.peers.report import peer_markdown
from cxr.peers.scoring import PeerScores, score_peer, score_peer_external
from cxr.processed import open_split

SPLITS = ("val", "test")


@dataclass(frozen=True)
class PeerSpec:
    """Which published model, and how to run it."""

    spec: str  # xrv:<weights> or chexnet:<file>
    xrv_cache: Path | None = None  # torchxrayvision's weights folder; None: its default
    random_init: bool = False  # seeded random weights: a smoke test only
    device: str = "auto"
    batch_size: int = 16


@dataclass(frozen=True)
class Workspace:
    """Where the pipeline's outputs lie: what the peer is scored on and compared with."""

    raw: Path  # ingest.raw_dir: the original files the peer reads
    processed: Path  # data/processed: the split indexes
    predictions: Path  # data/predictions: cxr's own prediction tables
    external: Path  # data/external: each external set's index and cxr's predictions there
    demo_external: Path  # the demo's second hospital (phantoms, not real films)


def score_model(
    peer_spec: PeerSpec,
    config: EvaluateConfig,
    external_config: ExternalConfig,
    sets: list[ExternalSet],
    where: Workspace,
    target: Path,
) -> dict:
    """Score the peer on val and test (and ``sets``, with ``external_config``'s intervals),
    beside cxr's model; write ``target`` atomically and return its metrics."""
    external = {s.name: (s, _external_index(where, s.name)) for s in sets}  # before any work
    peer = load_peer(peer_spec.spec, peer_spec.xrv_cache, peer_spec.random_init)
    indexes = {split: open_split(where.processed, split)[1] for split in SPLITS}
    device = pick_device(peer_spec.device)
    scores = score_peer(peer, indexes, where.raw, config, device, peer_spec.batch_size)
    metrics = {
        **scores.metrics, "model": peer_spec.spec, "random_init": peer_spec.random_init,
        "weights": peer.weights, "weights_sha256": peer.fingerprint(),
        "thresholds": scores.thresholds,
    }  # fmt: skip
    ours = where.predictions / "test.parquet"
    if ours.is_file():  # B - A: the peer minus cxr's model, on the same patients' resamples
        metrics["vs_cxr_test"] = {
            "a": str(ours), "b": f"{peer.name} (test.parquet)", "purpose": "final report",
            **compare_tables(pd.read_parquet(ours), scores.tables["test"], config.bootstrap,
                             config.seed, config.confidence),
        }  # fmt: skip
    tables = dict(scores.tables)
    run = _ExternalRun(peer, scores, external_config, config.calibration_bins, device,
                       peer_spec.batch_size, where)  # fmt: skip
    for name, (item, index) in external.items():
        tables[f"external/{name}"], metrics.setdefault("external", {})[name] = run(item, index)
    with atomic_path(target) as tmp:
        (tmp / "external").mkdir(parents=True)
        for split, table in tables.items():
            table.to_parquet(tmp / f"{split}.parquet", index=False)
        write_json(tmp / "metrics.json", metrics)
        write_fitted(tmp / "thresholds.json", tmp / "calibration.json",
                     config.threshold_policy, scores.thresholds, scores.calibration)  # fmt: skip
        (tmp / "report.md").write_text(peer_markdown(metrics), encoding="utf-8")
    return metrics


@dataclass
class _ExternalRun:
    """The peer on one external set (its prepared index), beside cxr's model there."""

    peer: Peer
    scores: PeerScores
    config: ExternalConfig
    bins: int
    device: torch.device
    batch_size: int
    where: Workspace

    def __call__(self, item: ExternalSet, index: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
        folder = Path(item.folder)
        synthetic = folder == self.where.demo_external  # the demo's phantoms
        table, metrics = score_peer_external(
            self.peer, self.scores, index, folder, FORMATS[item.format], self.config,
            self.bins, self.device, self.batch_size, synthetic,
        )  # fmt: skip
        ours = pd.read_parquet(self.where.external / item.name / "predictions.parquet")
        c = self.config
        versus = compare_tables(ours, table, c.bootstrap, c.seed, c.confidence)
        return table, {**metrics, "vs_cxr": {"purpose": "final report", **versus}}


def _external_index(where: Workspace, name: str) -> pd.DataFrame:
    index_file = where.external / name / f"{EXTERNAL}.parquet"
    if not index_file.is_file():
        raise InputError(f"external set {name}: {index_file} missing; run dvc repro first")
    return pd.read_parquet(index_file)
