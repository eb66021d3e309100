"""Focal loss for multi-label classification, with class weights from training prevalence.

Focal loss (Lin et al., ICCV 2017) scales each binary cross-entropy term by
``(1 - p_t) ** gamma`` so that easy, confident examples count less; at
``gamma = 0`` and no weights it is exactly BCE. Class imbalance is handled by
either

* ``alpha``: positives of class k weigh ``alpha_k`` and negatives ``1 - alpha_k``,
  with ``alpha_k = 1 - prevalence_k`` (rare positives weigh more); or
* ``pos_weight``: positives of class k weigh ``negatives_k / positives_k``
  (as ``BCEWithLogitsLoss(pos_weight=...)``), capped.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

POS_WEIGHT_CAP = 20.0


def class_weights(labels: np.ndarray, kind: str) -> dict[str, torch.Tensor]:
    """Keyword arguments for :func:`focal_loss` from the training labels ``[N, C]``."""
    positives = labels.sum(axis=0).astype(np.float64)
    prevalence = np.clip(positives / max(len(labels), 1), 1e-6, 1 - 1e-6)
    if kind == "none":
        return {}
    if kind == "alpha":
        return {"alpha": torch.tensor(1.0 - prevalence, dtype=torch.float32)}
    if kind == "pos_weight":
        ratio = (len(labels) - positives) / np.maximum(positives, 1.0)
        return {
            "pos_weight": torch.tensor(np.clip(ratio, 1.0, POS_WEIGHT_CAP), dtype=torch.float32)
        }
    raise ValueError(f"unknown class weighting {kind!r}: use none, alpha or pos_weight")


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma: float = 0.0,
    alpha: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean focal loss over all elements of ``[B, C]`` logits and 0/1 targets."""
    logits = logits.float()
    targets = targets.float()
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    loss = bce
    if gamma:
        p = torch.sigmoid(logits)
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = loss * (1 - p_t).pow(gamma)
    if alpha is not None:
        alpha = alpha.to(logits.device)
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    if pos_weight is not None:
        loss = loss * (1 + (pos_weight.to(logits.device) - 1) * targets)
    return loss.mean()
