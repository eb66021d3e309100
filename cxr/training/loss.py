"""Focal loss for multi-label classification, with class weights from training prevalence.

Focal loss (Lin et al., ICCV 2017) scales each binary cross-entropy term by
``(1 - p_t) ** gamma`` so that easy, confident examples count less; at
``gamma = 0`` and no weights it is exactly BCE. Class imbalance is handled by
either

* ``alpha``: positives of class k weigh ``alpha_k`` and negatives ``1 - alpha_k``,
  with ``alpha_k = 1 - prevalence_k`` (rare positives weigh more); or
* ``pos_weight``: positives of class k weigh ``negatives_k / positives_k``
  (as ``BCEWithLogitsLoss(pos_weight=...)``), capped.

A finding a source does not label is NaN in the targets (training on several
data sets at once, torchxrayvision's way): with ``masked`` it contributes
nothing to the loss or its gradient, never a negative, and the mean is over the
known targets. Prevalences and weights count known labels only. A loss built
for labels without NaN is the unmasked one, bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

POS_WEIGHT_CAP = 20.0


def class_weights(labels: np.ndarray, kind: str) -> dict[str, torch.Tensor]:
    """Keyword arguments for :func:`focal_loss` from the training labels ``[N, C]`` (1, 0,
    or NaN where unknown: counted out of that finding's prevalence)."""
    y = np.asarray(labels, dtype=np.float64)
    known = np.maximum((~np.isnan(y)).sum(axis=0), 1).astype(np.float64)
    positives = np.nansum(y, axis=0)
    prevalence = np.clip(positives / known, 1e-6, 1 - 1e-6)
    if kind == "none":
        return {}
    if kind == "alpha":
        return {"alpha": torch.tensor(1.0 - prevalence, dtype=torch.float32)}
    if kind == "pos_weight":
        ratio = (known - positives) / np.maximum(positives, 1.0)
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
    masked: bool = False,
) -> torch.Tensor:
    """Mean focal loss over all elements of ``[B, C]`` logits and 0/1 targets; ``masked``:
    over the known ones, a NaN target adding nothing (no host sync: the mask stays on the
    device).

    >>> logits = torch.zeros(1, 2, requires_grad=True)
    >>> loss = focal_loss(logits, torch.tensor([[1.0, float("nan")]]), masked=True)
    >>> round(loss.item(), 4), logits.grad is None
    (0.6931, True)
    >>> loss.backward(); logits.grad   # the unknown finding: exactly no gradient
    tensor([[-0.5000,  0.0000]])
    """
    logits = logits.float()
    targets = targets.float()
    known = None
    if masked:
        known = ~torch.isnan(targets)
        targets = torch.where(known, targets, torch.zeros_like(targets))
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
    if known is None:
        return loss.mean()
    loss = torch.where(known, loss, torch.zeros_like(loss))
    return loss.sum() / known.sum().clamp(min=1)


class FocalLoss(nn.Module):
    """:func:`focal_loss` as a module, its class weights held as buffers (they move with
    ``.to(device)``). The training stage builds it once and passes it to the loop.

    Example::

        >>> loss = FocalLoss(gamma=2.0)
        >>> logits, targets = torch.zeros(1, 1), torch.ones(1, 1)
        >>> round(loss(logits, targets).item(), 4)   # ln 2 * (1 - 0.5) ** 2
        0.1733
        >>> round(FocalLoss()(logits, targets).item(), 4)   # gamma 0: BCE, ln 2
        0.6931
        >>> weighted = FocalLoss(pos_weight=torch.tensor([3.0]))
        >>> round(weighted(logits, targets).item(), 4)   # a positive weighs 3
        2.0794
    """

    def __init__(
        self,
        gamma: float = 0.0,
        alpha: torch.Tensor | None = None,
        pos_weight: torch.Tensor | None = None,
        masked: bool = False,
    ) -> None:
        super().__init__()
        self.gamma = gamma
        self.masked = masked
        self.register_buffer("alpha", alpha)
        self.register_buffer("pos_weight", pos_weight)

    @classmethod
    def for_labels(
        cls, labels: np.ndarray, gamma: float, class_weight: str, masked: bool | None = None
    ) -> FocalLoss:
        """The training loss: ``gamma`` and weights of kind ``class_weight`` from the training
        labels ``[N, C]`` (:func:`class_weights`), masked where they hold a NaN (or as
        ``masked`` says: validation's labels may hold one where training's do not)."""
        if masked is None:
            masked = bool(np.isnan(np.asarray(labels, dtype=np.float64)).any())
        return cls(gamma, **class_weights(labels, class_weight), masked=masked)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, targets, self.gamma, self.alpha, self.pos_weight, self.masked)
