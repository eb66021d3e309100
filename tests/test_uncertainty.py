"""Patient-level bootstrap intervals: exact resample scores, patient vs image width, paired runs."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from cxr.evaluation.bootstrap import (
    bootstrap_scores,
    group_codes,
    interval,
    resample_counts,
    weighted_scores,
)
from cxr.evaluation.compare import paired_difference


def test_each_resample_equals_sklearn_on_the_repeated_images():
    rng = np.random.default_rng(1)
    n = 300
    y = rng.random(n) < 0.2
    s = np.round(rng.random(n) + 0.5 * y, 2)  # rounded: many ties
    codes = group_codes(rng.integers(0, 80, n))
    counts = next(resample_counts(codes, 6, seed=0))
    roc, ap = weighted_scores(y, s, counts, codes)
    for b in range(6):
        rows = np.repeat(np.arange(n), counts[b, codes].astype(int))
        assert roc[b] == pytest.approx(roc_auc_score(y[rows], s[rows]), abs=1e-12)
        assert ap[b] == pytest.approx(average_precision_score(y[rows], s[rows]), abs=1e-12)


def test_a_perfect_classifier_has_the_interval_one_to_one():
    rng = np.random.default_rng(2)
    y = (rng.random((200, 3)) < 0.3).astype(np.uint8)
    p = y * 0.5 + rng.random((200, 3)) * 0.4  # every positive above every negative
    boot = bootstrap_scores(y, p, np.arange(200) // 4, resamples=200)
    for k in range(3):
        assert interval(boot.auroc[:, k]) == {"low": 1.0, "high": 1.0, "undefined_resamples": 0}
    assert interval(boot.mean_auroc)["low"] == 1.0


def _clustered(patients: int, per_patient: int, seed: int):
    """Every patient's images are identical copies: the evidence is one image per patient."""
    rng = np.random.default_rng(seed)
    y = (rng.random((patients, 1)) < 0.4).astype(np.uint8)
    p = rng.normal(size=(patients, 1)) + 0.8 * y
    ids = np.arange(patients)
    return y.repeat(per_patient, 0), p.repeat(per_patient, 0), ids.repeat(per_patient)


def _width(y, p, groups, seed=0):
    ci = interval(bootstrap_scores(y, p, groups, resamples=1000, seed=seed).auroc[:, 0])
    return ci["high"] - ci["low"]


def test_patient_bootstrap_has_the_width_of_the_independent_evidence():
    y, p, patients = _clustered(patients=120, per_patient=8, seed=3)
    by_patient = _width(y, p, patients)
    by_image = _width(y, p, np.arange(len(y)))
    # The same data with one image per patient, resampled by image: the honest width.
    independent = _width(y[::8], p[::8], np.arange(120))
    assert by_patient == pytest.approx(independent, rel=0.15)
    # Resampling images treats 8 copies as 8 cases: about sqrt(8) = 2.8 times too narrow.
    assert 2.0 < by_patient / by_image < 3.6


def test_undefined_resamples_are_counted_not_averaged():
    y = np.zeros((40, 1), np.uint8)
    y[-1] = 1  # one positive patient (the top score): many resamples miss it
    p = np.linspace(0, 1, 40)[:, None]
    boot = bootstrap_scores(y, p, np.arange(40), resamples=300)
    ci = interval(boot.auroc[:, 0])
    expected_missing = 300 * (1 - 1 / 40) ** 40  # P(that patient never drawn) = 0.36
    assert ci["undefined_resamples"] == pytest.approx(expected_missing, rel=0.25)
    assert ci["low"] == ci["high"] == 1.0


def test_paired_difference_of_identical_models_is_exactly_zero():
    rng = np.random.default_rng(4)
    y = (rng.random((300, 14)) < 0.2).astype(np.uint8)
    p = rng.random((300, 14)) + 0.3 * y
    same = paired_difference(y, p, p.copy(), np.arange(300) // 3, resamples=200)
    assert same["mean_auroc"]["difference"] == 0.0
    assert same["mean_auroc"]["low"] == same["mean_auroc"]["high"] == 0.0


def test_paired_difference_finds_a_better_model_and_pairing_narrows_the_interval():
    rng = np.random.default_rng(5)
    n = 600
    y = (rng.random((n, 14)) < 0.2).astype(np.uint8)
    shared = rng.normal(size=(n, 14))  # both models share most of their errors
    a = shared + 1.0 * y
    b = shared + 1.3 * y + 0.3 * rng.normal(size=(n, 14))
    result = paired_difference(y, a, b, np.arange(n) // 2, resamples=500)
    diff = result["mean_auroc"]
    assert diff["difference"] > 0 and diff["low"] > 0  # B is better, and the interval says so
    # Unpaired, each model's own interval is wider than the paired difference's.
    alone = interval(bootstrap_scores(y, b, np.arange(n) // 2, 500, seed=9).mean_auroc)
    assert diff["high"] - diff["low"] < alone["high"] - alone["low"]
