"""Which way a film faces: a layout classifier for frontal, lateral, inverted and rotated views.

A multinomial logistic regression (scikit-learn) on the image's coarse layout:
the array shrunk to 16 x 16 and standardised, so exposure and contrast do not
matter, only where the dark lungs, the bright mediastinum, the domes and the
body's edges lie. Its four classes are made, never collected:

* ``frontal``: the training split's own films;
* ``inverted`` and ``rotated``: those films negated, and turned by 90, 180 or 270
  degrees;
* ``lateral``: lateral phantoms (``cxr.demo.lateral``) of patients no data set
  uses, on films of both demo sites, at the model's preprocessing.

The frontal class is real data wherever the training split is (NIH's films on
NIH); the lateral class is always drawn, so on real data it is the weakest
part of the guard (docs/guard.md: the real NIH sample's frontals measured
against it).

Example::

    >>> layout(np.full((64, 64), 7, np.uint8)).shape
    (256,)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression

VIEWS = ("frontal", "lateral", "inverted", "rotated")
LAYOUT_SIDE = 16
#: Patients of the lateral phantoms: far above any demo set's (NIH-like from 1, second
#: hospital from 100,001), so no lateral shares an anatomy with a film the model saw.
LATERAL_PATIENTS = 900_000
REGULARISATION = 0.1  # C of the logistic regression: 0.01-1 gave the same calls (bench/guard.py)


def layout(image: np.ndarray) -> np.ndarray:
    """The 256 standardised grey levels of ``image`` shrunk to 16 x 16 (zeros if blank)."""
    small = cv2.resize(
        image.astype(np.float32), (LAYOUT_SIDE, LAYOUT_SIDE), interpolation=cv2.INTER_AREA
    ).ravel()
    small -= small.mean()
    std = small.std()
    return small / std if std > 0 else small


@dataclass(frozen=True)
class ViewModel:
    """The fitted classifier: ``coef [4, 256]`` and ``intercept [4]`` in :data:`VIEWS` order."""

    coef: np.ndarray
    intercept: np.ndarray

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """``[N, 4]`` probabilities of :data:`VIEWS` for ``uint8 [N, S, S]`` arrays."""
        x = np.stack([layout(i) for i in images]) if len(images) else np.zeros((0, 256))
        z = x @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def fit_view_model(frontal: np.ndarray, laterals: np.ndarray) -> ViewModel:
    """Fit on the training split's ``frontal`` arrays (and their inverted and rotated
    copies) and ``laterals`` (:func:`lateral_references`), each class weighted equally."""
    half = len(frontal) // 2
    inverted = 255 - frontal[half:]
    rotated = np.stack([np.rot90(x, 1 + i % 3) for i, x in enumerate(frontal[:half])])
    classes = (frontal, laterals, inverted, rotated)
    x = np.stack([layout(i) for group in classes for i in group])
    y = np.concatenate([np.full(len(g), k) for k, g in enumerate(classes)])
    weight = np.concatenate([np.full(len(g), len(y) / (len(classes) * len(g))) for g in classes])
    fit = LogisticRegression(C=REGULARISATION, max_iter=5000).fit(x, y, sample_weight=weight)
    return ViewModel(fit.coef_.astype(np.float32), fit.intercept_.astype(np.float32))


def lateral_references(
    count: int, render_side: int, prepare: Callable[[np.ndarray], np.ndarray], seed: int = 0
) -> np.ndarray:
    """``count`` lateral phantoms drawn at ``render_side`` px, half on each demo site's films,
    each passed through ``prepare`` (the model's preprocessing of a decoded image)."""
    from cxr.demo.render import ImageSpec, render_lateral
    from cxr.demo.site import NIH_LIKE, SECOND_HOSPITAL

    out = []
    for k in range(count):
        spec = ImageSpec("lateral", LATERAL_PATIENTS + k, 0, "MF"[k % 2], "PA", (0,) * 14)
        site = SECOND_HOSPITAL if k % 2 else NIH_LIKE
        out.append(prepare(render_lateral(spec, render_side, seed, 0, site)))
    return np.stack(out)
