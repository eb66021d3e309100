"""Patient-level splits: the official NIH lists, or a seeded split stratified over 14 labels.

No patient may ever span two splits. Images of one patient are correlated (same
anatomy, often the same finding), so an image-level split leaks and inflates
every metric. scikit-learn has no multi-label stratified *group* splitter, so
the patient split below adapts iterative stratification (Sechidis, Tsoumakas &
Vlahavas, ECML 2011) to patients: rarest label first, each patient to the split
that most lacks that label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cxr.errors import InputError

SPLITS = ("train", "val", "test")
_MAX_NAMED = 10


class SplitError(InputError):
    """A split is impossible or leaks patients; the message names them."""


def assert_patient_disjoint(patient_ids: Sequence[int], splits: Sequence[str]) -> None:
    """Raise :class:`SplitError` naming every patient whose images lie in two splits."""
    frame = pd.DataFrame({"patient": np.asarray(patient_ids), "split": np.asarray(splits)})
    n_splits = frame.groupby("patient")["split"].nunique()
    leaking = n_splits[n_splits > 1].index.to_numpy()
    if len(leaking):
        shown = ", ".join(str(p) for p in leaking[:_MAX_NAMED])
        more = f" and {len(leaking) - _MAX_NAMED} more" if len(leaking) > _MAX_NAMED else ""
        raise SplitError(
            f"{len(leaking)} patients have images in more than one split: {shown}{more}"
        )


def stratified_patient_split(
    patient_ids: np.ndarray,
    labels: np.ndarray,
    fractions: Mapping[str, float],
    seed: int,
) -> np.ndarray:
    """Assign every row to a split so that no patient spans two and labels are balanced.

    ``labels`` is ``[n_rows, n_classes]``; ``fractions`` maps split name to its share
    of images. A class with at least as many positive patients as splits gets a
    positive patient in every split. Returns an array of split names per row.
    Deterministic for a given ``seed`` and input order-independent.
    """
    names = list(fractions)
    share = np.array([fractions[n] for n in names], dtype=np.float64)
    if np.any(share <= 0) or not np.isclose(share.sum(), 1.0):
        raise SplitError(f"split fractions must be positive and sum to 1, got {dict(fractions)}")
    patient_ids = np.asarray(patient_ids)
    labels = np.asarray(labels, dtype=np.int64)

    patients, row_patient = np.unique(patient_ids, return_inverse=True)
    n_pat, n_cls = len(patients), labels.shape[1]
    per_patient = np.zeros((n_pat, n_cls), dtype=np.int64)
    np.add.at(per_patient, row_patient, labels)
    n_images = np.bincount(row_patient, minlength=n_pat).astype(np.float64)

    want_images = share * n_images.sum()  # images each split still wants
    want_pos = share[:, None] * per_patient.sum(axis=0)[None, :]  # [split, class] positives wanted
    have_pat = np.zeros((len(names), n_cls), dtype=np.int64)  # positive patients placed
    remaining = per_patient.sum(axis=0).astype(np.float64)  # positives not yet placed
    assigned = np.full(n_pat, -1, dtype=np.int64)
    # Seeded order of patients; ties between equally needy splits go to the first
    # in this order, so the result depends only on the seed and the data.
    order = np.random.default_rng(seed).permutation(n_pat)
    has_class = per_patient[order] > 0

    def place(p: int, s: int) -> None:
        assigned[p] = s
        want_images[s] -= n_images[p]
        want_pos[s] -= per_patient[p]
        have_pat[s] += per_patient[p] > 0
        remaining[:] -= per_patient[p]

    while True:
        open_cls = np.flatnonzero(remaining > 0)
        if len(open_cls) == 0:
            break
        k = open_cls[np.argmin(remaining[open_cls])]
        for j in np.flatnonzero(has_class[:, k]):
            p = order[j]
            if assigned[p] >= 0:
                continue
            # Prefer a split with no positive patient of this class yet, then the
            # one that most lacks its positives, then the one that most lacks images.
            key = np.lexsort((want_images, want_pos[:, k], have_pat[:, k] == 0))
            place(p, int(key[-1]))
    for p in order:
        if assigned[p] < 0:
            place(p, int(np.argmax(want_images)))
    return np.asarray(names, dtype=object)[assigned[row_patient]]


def official_split(
    image_ids: Sequence[str],
    patient_ids: Sequence[int],
    labels: np.ndarray,
    train_val: Sequence[str],
    test: Sequence[str],
    val_fraction: float,
    seed: int,
) -> np.ndarray:
    """Split by the NIH lists, carving validation out of train_val by patient.

    Returns split names per row; an image in neither list gets ``""`` (the caller
    rejects it with a reason). Raises :class:`SplitError` if the lists overlap or
    leak a patient across them, naming the images or patients.
    """
    image_ids = np.asarray(image_ids, dtype=object)
    patient_ids = np.asarray(patient_ids)
    in_both = sorted(set(train_val) & set(test))
    if in_both:
        raise SplitError(
            f"{len(in_both)} images are in both split lists, e.g. {in_both[:_MAX_NAMED]}"
        )
    is_tv = pd.Index(image_ids).isin(list(train_val))
    is_test = pd.Index(image_ids).isin(list(test))
    try:
        assert_patient_disjoint(
            patient_ids[is_tv | is_test], np.where(is_tv, "train_val", "test")[is_tv | is_test]
        )
    except SplitError as err:
        raise SplitError(f"the split lists leak patients: {err}") from None

    split = np.full(len(image_ids), "", dtype=object)
    split[is_test] = "test"
    if is_tv.any():
        split[is_tv] = stratified_patient_split(
            patient_ids[is_tv],
            labels[is_tv],
            {"train": 1.0 - val_fraction, "val": val_fraction},
            seed,
        )
    return split
