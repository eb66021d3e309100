"""A published model (``cxr.peers``) scored on cxr's own validation and test images, the way
cxr's model is: each file decoded and fed as the peer's code feeds it, calibration and
thresholds fitted on validation, AUROC and AUPRC with patient-bootstrap intervals on test.

The peer reads the original files (``raw_dir`` / the index's ``path``), not cxr's
arrays: its own size and cropping apply. A finding the peer has no output for
has NaN probabilities: no metric scores it, and a paired comparison
(``cxr.evaluation.compare``) leaves it out of both models' means.

Example::

    scored = score_peer(peer, {"val": val_index, "test": test_index}, raw_dir, config)
    scored.tables["test"]            # a prediction table, as evaluate writes for cxr's model
    scored.metrics["test"]["mean_auroc"]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from cxr.config import EvaluateConfig, ExternalConfig
from cxr.errors import InputError
from cxr.evaluation.calibration import Calibration, expected_calibration_error, fit_calibration
from cxr.evaluation.compare import EXTERNAL
from cxr.evaluation.evaluate import prediction_table, scored_metrics
from cxr.evaluation.metrics import rounded
from cxr.evaluation.thresholds import fit_thresholds
from cxr.external.formats import Format
from cxr.external.metrics import external_metrics, scores_of_table
from cxr.findings import FINDINGS
from cxr.imaging.decode import DecodeError
from cxr.peers.base import Peer, Provenance


@dataclass
class PeerScores:
    """Prediction tables per split, every figure, and what was fitted on validation."""

    tables: dict[str, pd.DataFrame]
    metrics: dict
    thresholds: dict[str, float]
    calibration: Calibration


def peer_logits(
    peer: Peer,
    index: pd.DataFrame,
    raw_dir: Path,
    device: torch.device | None = None,
    batch_size: int = 16,
    desc: str = "peer",
    source: str = "",
) -> np.ndarray:
    """``[N, 14]`` logits of the files ``index`` lists (NaN for unscored findings), each
    read as the peer's code reads ``source``'s files (``Peer.load``)."""
    out = []
    for start in tqdm(range(0, len(index), batch_size), desc=desc, unit="batch"):
        batch = []
        for path in index.path.iloc[start : start + batch_size]:
            try:
                batch.append(peer.load(Path(raw_dir) / path, source))
            except (DecodeError, OSError) as err:
                raise InputError(
                    f"{Path(raw_dir) / path}: preprocess read it, {peer.name} cannot ({err}); "
                    "has the file changed since?"
                ) from None
        out.append(peer.logits(np.stack(batch), device))
    return np.concatenate(out) if out else np.zeros((0, len(FINDINGS)))


def score_peer(
    peer: Peer,
    indexes: dict[str, pd.DataFrame],
    raw_dir: Path,
    config: EvaluateConfig,
    device: torch.device | None = None,
    batch_size: int = 16,
) -> PeerScores:
    """Score ``peer`` on the ``val`` and ``test`` indexes (preprocess's split indexes)."""
    logits = {
        split: peer_logits(peer, index, raw_dir, device, batch_size, f"{peer.name} {split}")
        for split, index in indexes.items()
    }
    labels = {split: index[list(FINDINGS)].to_numpy() for split, index in indexes.items()}
    # Fitted on the columns the peer has; an unscored column stays NaN through apply.
    calibration = fit_calibration(labels["val"], np.nan_to_num(logits["val"]), config.calibration)
    probs = {split: calibration.apply(z) for split, z in logits.items()}
    scored = [k for k, f in enumerate(FINDINGS) if f in peer.scored]
    fitted = fit_thresholds(labels["val"], logits["val"], calibration, FINDINGS,
                            config.threshold_policy, config.target_sensitivity)  # fmt: skip
    thresholds = {FINDINGS[k]: float(fitted[k]) for k in scored}
    patients = {split: index.patient_id.to_numpy() for split, index in indexes.items()}
    y_test, p_test, bins = labels["test"], probs["test"], config.calibration_bins
    ece = {FINDINGS[k]: rounded(expected_calibration_error(y_test[:, k], p_test[:, k], bins))
           for k in scored}  # fmt: skip
    metrics = {
        "peer": peer.name,
        "scored": list(peer.scored),
        "trained_on": peer.provenance.trained_on,
        "trained_on_datasets": sorted(peer.provenance.datasets),
        "nih_test_overlap": peer.provenance.nih_test_overlap,
        "weights_from": peer.provenance.source,
        **{s: scored_metrics(labels[s], logits[s], patients[s], config) for s in indexes},
        "test_ece": ece,
        "calibration": config.calibration,
    }
    tables = {split: prediction_table(indexes[split], probs[split], split, logits[split])
              for split in indexes}  # fmt: skip
    return PeerScores(tables, metrics, thresholds, calibration)


def training_overlap(provenance: Provenance, form: Format) -> str | None:
    """Why a peer's figures on a set of ``form`` are not external for it (None: they are):
    it trained on that data set, or on NIH's films where the set's films are NIH's."""
    if form.dataset in provenance.datasets:
        return (f"trained on {form.title}: this set is (or holds) its own training data, "
                "so its figures here are not external")  # fmt: skip
    if form.nih_films and "nih" in provenance.datasets:
        return (f"trained on NIH ChestX-ray14 films, which {form.title}'s are: it may "
                "have seen these very images")  # fmt: skip
    return None


def score_peer_external(
    peer: Peer,
    scores: PeerScores,
    index: pd.DataFrame,
    folder: Path,
    form: Format,
    external: ExternalConfig,
    bins: int,
    device: torch.device | None = None,
    batch_size: int = 16,
    synthetic: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """The peer on an external set (``index``: the external stage's, files below ``folder``,
    in ``form``'s layout), with its validation calibration and thresholds, against its own
    NIH test figures: the prediction table and ``external_metrics`` on the findings both
    the set and it score, with ``external``'s intervals (as cxr's model's on the set) and
    ``bins`` for the ECE; ``training_overlap`` where the peer trained on the set
    (``synthetic``: the demo's phantoms in that layout, which no peer has seen)."""
    logits = peer_logits(peer, index, folder, device, batch_size, f"{peer.name} external",
                         form.dataset)  # fmt: skip
    unit = form.resampling_unit
    table = prediction_table(index, scores.calibration.apply(logits), EXTERNAL, logits, unit)
    scored = [f for f in peer.scored if index[f].notna().any()]
    thresholds = np.array([scores.thresholds.get(f, np.nan) for f in FINDINGS])
    metrics = external_metrics(
        scores_of_table(table), scores_of_table(scores.tables["test"]), scored, thresholds,
        external.bootstrap, external.confidence, external.seed, bins, unit, form.origin,
    )  # fmt: skip
    metrics["training_overlap"] = None if synthetic else training_overlap(peer.provenance, form)
    return table, metrics


def peer_headline(metrics: dict) -> dict:
    """What ``metrics/peers/<name>.json`` keeps for ``dvc exp show``: the weights' short
    fingerprint, the test means with their intervals, the paired difference from cxr's
    model, and each external set's."""
    test = metrics["test"]
    out = {
        "peer": metrics["peer"],
        "random_init": metrics["random_init"],
        "weights_sha256": metrics["weights_sha256"][:16],  # dvc metrics diff: other weights
        "test_mean_auroc": test["mean_auroc"],
        "test_mean_auroc_ci": test.get("ci", {}).get("mean_auroc"),
        "classes_in_mean": test["classes_in_mean"],
    }
    if "vs_cxr_test" in metrics:
        out["minus_cxr_test"] = metrics["vs_cxr_test"]["mean_auroc"]
    for name, figures in metrics.get("external", {}).items():
        out[f"external_{name}"] = {
            "mean_auroc": figures["mean_auroc"],
            "mean_drop": figures["mean_drop"],
            "mean_drop_ci": figures["mean_drop_ci"],
            "minus_cxr": figures["vs_cxr"]["mean_auroc"],
        }
    return out
