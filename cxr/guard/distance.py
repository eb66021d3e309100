"""How far an image's features lie from the training split's: a Mahalanobis distance.

The features are what the classifier's last linear layer reads (the pooled
``1024`` of DenseNet121; the fused vector of the dual path), captured by a
hook, so every architecture gives them without a second forward pass. The
training split's features are summarised by their mean and a Ledoit-Wolf
shrunk covariance (scikit-learn): with 1,024 features and a few thousand
images, the plain covariance is singular. This is Lee et al.'s (NeurIPS 2018)
detector with one class, as used for chest X-ray models by e.g. Berger et al.
(2021); bench/guard.py compares it with a k-nearest-neighbour distance.

Example::

    >>> rng = np.random.default_rng(0)
    >>> fit = fit_distance(rng.standard_normal((500, 8)))
    >>> bool(fit.distances(np.zeros((1, 8)))[0] < fit.distances(np.full((1, 8), 5.0))[0])
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from torch import nn


@dataclass(frozen=True)
class DistanceModel:
    """``mean [D]`` and ``precision [D, D]`` (the shrunk covariance's inverse)."""

    mean: np.ndarray
    precision: np.ndarray

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance ``[N]`` of each row of ``features [N, D]``."""
        d = features.astype(np.float64) - self.mean
        return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", d, self.precision, d), 0.0))


def fit_distance(features: np.ndarray) -> DistanceModel:
    """Fit on the training split's features ``[N, D]``."""
    # The shrunk covariance is well conditioned: a plain inverse, not scikit-learn's
    # eigendecomposition (pinvh), which took 40% of the guard's fit.
    fit = LedoitWolf(store_precision=False).fit(features.astype(np.float64))
    return DistanceModel(fit.location_, np.linalg.inv(fit.covariance_))


def head_layer(model: nn.Module) -> nn.Linear:
    """The classifier's last linear layer: its input is the pooled feature vector."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f"{type(model).__name__} has no linear layer to read features from")
    return linears[-1]


@contextmanager
def pooled_features(model: nn.Module) -> Iterator[list[np.ndarray]]:
    """Within the block, every forward pass of ``model`` appends its pooled features
    ``[B, D]`` (float32) to the yielded list, in call order."""
    captured: list[np.ndarray] = []

    def keep(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        captured.append(inputs[0].detach().float().cpu().numpy())

    handle = head_layer(model).register_forward_pre_hook(keep)
    try:
        yield captured
    finally:
        handle.remove()
