"""The input guard: the checks in order, fitted beside the model, saved and loaded.

An image is refused for the first reason that applies:

1. ``not a radiograph``: it fails a model-free check (``cxr.guard.image``:
   blank, two-tone, noise, no structure);
2. ``lateral view``, ``inverted`` or ``rotated``: the layout classifier
   (``cxr.guard.view``) calls it that, with probability over one half, and for
   inverted and rotated, undoing the transform gives what it calls frontal
   (else ``not a radiograph``, or ``unlike the training data`` for an image it
   still gives a frontal probability of :data:`FRONTAL_FLOOR` or more);
3. ``unlike the training data``: the Mahalanobis distance of its features
   (``cxr.guard.distance``) exceeds the cut, the ``1 - false_flag`` quantile
   of the validation split's distances.

Refused images keep their probabilities; callers list no findings for them
unless told to (``cxr predict --force``). Everything is fitted on the training
split except the distance's cut, chosen on validation; test is never read.

Example::

    guard = fit_guard(train_images, train_features, val_features, laterals, 0.01)
    verdict = guard.check(images, features)   # verdict.reasons: "" where accepted
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

from cxr.atomic import atomic_path
from cxr.errors import InputError
from cxr.guard.distance import DistanceModel, fit_distance
from cxr.guard.image import failed_checks
from cxr.guard.view import VIEWS, ViewModel, fit_view_model

NOT_A_RADIOGRAPH = "not a radiograph"
UNLIKE_TRAINING = "unlike the training data"
#: The reason each non-frontal view of the layout classifier gives.
VIEW_REASONS = {"lateral": "lateral view", "inverted": "inverted", "rotated": "rotated"}
REASONS = (NOT_A_RADIOGRAPH, *VIEW_REASONS.values(), UNLIKE_TRAINING)
#: An image the classifier gives at least this frontal probability is never "not a
#: radiograph" by its layout alone (docs/guard.md: validation's lowest is 0.98, the real
#: NIH sample's 0.25, most natural images' under 0.02).
FRONTAL_FLOOR = 0.1
FOLDS = 5  # of the training split, for the distances the cut rests on
FORMAT = 1  # of guard.npz; a newer cxr refuses a format it does not know


@dataclass(frozen=True)
class Verdict:
    """Per image: ``distances [N]`` (the out-of-distribution score), ``reasons [N]`` (one
    of :data:`REASONS`, or ``""`` where accepted), and ``views [N, 4]`` (probabilities)."""

    distances: np.ndarray
    reasons: np.ndarray
    views: np.ndarray

    @property
    def flagged(self) -> np.ndarray:
        return self.reasons != ""

    def summary(self) -> dict:
        """How many images were flagged, their share, and the count of each reason."""
        n = len(self.reasons)
        return {
            "images": n,
            "flagged": int(self.flagged.sum()),
            "flagged_share": round(float(self.flagged.mean()), 4) if n else None,
            "by_reason": {r: int((self.reasons == r).sum()) for r in REASONS},
        }


@dataclass(frozen=True)
class Guard:
    """The fitted guard: the layout classifier, the feature distance and its cut."""

    view: ViewModel
    distance: DistanceModel
    cut: float  # distances above it are "unlike the training data"
    #: Where it was fitted and chosen, and the rates measured then (docs, reports).
    record: dict

    def check(self, images: np.ndarray, features: np.ndarray) -> Verdict:
        """The verdict on ``uint8 [N, S, S]`` arrays and their pooled ``features [N, D]``."""
        if features.shape[1:] != self.distance.mean.shape:
            raise InputError(
                f"the input guard was fitted on {self.distance.mean.shape[0]} features, the "
                f"model gives {features.shape[1:]}: it belongs to another model; rerun "
                "evaluate (`dvc repro evaluate`) to fit it again"
            )
        distances = self.distance.distances(features)
        views = self.view.probabilities(images)
        reasons = []
        for image, d, p in zip(images, distances, views, strict=True):
            view = VIEWS[int(np.argmax(p))]
            if failed_checks(image):
                reasons.append(NOT_A_RADIOGRAPH)
            elif view != "frontal" and p.max() > 0.5:
                reasons.append(self._view_reason(image, view, p[VIEWS.index("frontal")]))
            elif d > self.cut:
                reasons.append(UNLIKE_TRAINING)
            else:
                reasons.append("")
        return Verdict(distances, np.array(reasons, dtype=object), views)

    def _view_reason(self, image: np.ndarray, view: str, frontal_here: float) -> str:
        """The reason for an image the layout classifier does not call frontal. Inverted and
        rotated must be undone by their own transform: the film turned back (negated, or
        turned by 90, 180 or 270 degrees) must read as frontal. If it does not, the image
        is no film, unless it still looks somewhat frontal itself (tightly collimated real
        films, which drawn phantoms never are, score 0.25 there)."""
        if view == "lateral":
            return VIEW_REASONS[view]
        undone = [255 - image] if view == "inverted" else [np.rot90(image, k) for k in (1, 2, 3)]
        frontal = self.view.probabilities(np.stack(undone))[:, VIEWS.index("frontal")]
        if frontal.max() > 0.5:
            return VIEW_REASONS[view]
        return UNLIKE_TRAINING if frontal_here >= FRONTAL_FLOOR else NOT_A_RADIOGRAPH

    def save(self, path: str | Path) -> None:
        """Write ``guard.npz`` (arrays and a JSON record; no pickle), atomically."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                view_coef=self.view.coef,
                view_intercept=self.view.intercept,
                mean=self.distance.mean,
                precision=self.distance.precision.astype(np.float32),
                cut=np.float64(self.cut),
                record=np.array(json.dumps({"format": FORMAT, **self.record}, sort_keys=True)),
            )

    @staticmethod
    def load(path: str | Path) -> Guard:
        """Read what :meth:`save` wrote; a damaged file is an error naming it."""
        try:
            with np.load(path, allow_pickle=False) as z:
                record = json.loads(str(z["record"]))
                if record.get("format") != FORMAT:
                    raise ValueError(f"format {record.get('format')}, this cxr reads {FORMAT}")
                return Guard(
                    ViewModel(z["view_coef"], z["view_intercept"]),
                    DistanceModel(z["mean"], z["precision"].astype(np.float64)),
                    float(z["cut"]),
                    record,
                )
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise InputError(
                f"{path}: not a readable input guard ({err}); rerun evaluate "
                "(`dvc repro evaluate`) to fit it again"
            ) from None


def fit_guard(
    train_images: np.ndarray,
    train_features: np.ndarray,
    train_patients: np.ndarray,
    val_features: np.ndarray,
    laterals: np.ndarray,
    false_flag: float,
) -> Guard:
    """Fit the classifier and the distance on the training split, and set the distance's
    cut at the ``1 - false_flag`` quantile of distances of images the fit did not see.

    Those are the validation split's, and the training split's own out of
    :data:`FOLDS` patient-grouped folds (each fold's distance fitted on the others):
    a 1% quantile of a few hundred validation images rests on its three largest,
    and flagged 3% of unseen training images in bench/guard.py.
    """
    if len(val_features) == 0:
        raise InputError("the validation split is empty: the guard's cut is chosen on it")
    distance = fit_distance(train_features)
    unseen = [distance.distances(val_features), *_out_of_fold(train_features, train_patients)]
    cut = float(np.quantile(np.concatenate(unseen), 1.0 - false_flag))
    record = {
        "fitted_on": "train",
        "cut_chosen_on": "val",
        "train_images": len(train_images),
        "val_images": len(val_features),
        "cut_rests_on": f"validation and {FOLDS}-fold out-of-fold training distances",
        "lateral_references": len(laterals),
        "false_flag": false_flag,
        "features": int(train_features.shape[1]),
    }
    return Guard(fit_view_model(train_images, laterals), distance, cut, record)


def _out_of_fold(features: np.ndarray, patients: np.ndarray) -> list[np.ndarray]:
    """Each training image's distance under a fit on the folds without its patient."""
    fold = GroupKFold(n_splits=min(FOLDS, len(np.unique(patients))))
    return [
        fit_distance(features[fit]).distances(features[held])
        for fit, held in fold.split(features, groups=patients)
    ]
