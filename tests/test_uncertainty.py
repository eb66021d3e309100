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
from cxr.evaluation.compare import bootstrap_p_value, holm, paired_difference
from cxr.numbers import with_interval


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
        assert interval(boot.auroc[:, k]) == {
            "low": 1.0, "high": 1.0, "unit": "patient", "resamples": 200, "usable_resamples": 200
        }  # fmt: skip
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


def test_an_interval_on_too_few_usable_resamples_is_withheld_and_says_why():
    y = np.zeros((40, 1), np.uint8)
    y[-1] = 1  # one positive patient (the top score): many resamples miss it
    p = np.linspace(0, 1, 40)[:, None]
    boot = bootstrap_scores(y, p, np.arange(40), resamples=300)
    ci = interval(boot.auroc[:, 0])
    expected_missing = 300 * (1 - 1 / 40) ** 40  # P(that patient never drawn) = 0.36
    assert 300 - ci["usable_resamples"] == pytest.approx(expected_missing, rel=0.25)
    # The usable ones all say 1.0: printed, that would look like a certain AUROC of 1.
    assert ci["low"] is None and ci["high"] is None
    assert ci["withheld"].startswith(f"only {ci['usable_resamples']} of 300 resamples")
    assert "no positive or no negative" in ci["dropped_because"]
    assert "no interval" in with_interval(1.0, ci)


def test_the_mean_over_findings_drops_a_resample_lacking_one_and_counts_it():
    # 80+ in the committed report: 530 of 1,000 resamples lacked a positive of a rare
    # finding, and the mean's interval was printed as if whole.
    rng = np.random.default_rng(6)
    n = 300
    y = (rng.random((n, 3)) < 0.3).astype(np.uint8)
    y[:, 2] = 0
    y[:4, 2] = 1  # a rare finding: four positive patients, absent from ~2% of resamples
    p = rng.random((n, 3)) + y
    boot = bootstrap_scores(y, p, np.arange(n), resamples=500)
    lacking = int(np.isnan(boot.auroc[:, 2]).sum())
    assert 0 < lacking < 50
    ci = interval(boot.mean_auroc)
    assert ci["usable_resamples"] == 500 - lacking and ci["low"] is not None
    assert ci["dropped_because"] and f"; {500 - lacking}/500 resamples" in with_interval(0.9, ci)
    y[1:4, 2] = 0  # one positive: absent from a third of the resamples
    ci = interval(bootstrap_scores(y, p, np.arange(n), resamples=500).mean_auroc)
    assert ci["usable_resamples"] < 450 and ci["low"] is None and ci["withheld"]


def test_p_values_are_never_zero_and_holm_adjusts_the_family():
    assert bootstrap_p_value(np.full(999, 0.1)) == pytest.approx(2 / 1000)  # k = 0 of 999
    assert bootstrap_p_value(np.zeros(50)) == 1.0  # identical models
    assert np.isnan(bootstrap_p_value(np.full(5, np.nan)))
    # Hand-worked: m = 3, sorted 0.01, 0.03, 0.04 -> 0.03, 0.06, max(0.06, 0.04) = 0.06.
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm(np.array([0.5, np.nan, 0.2])), [0.5, np.nan, 0.4])
    assert holm(np.array([0.6, 0.7])).tolist() == [1.0, 1.0]  # capped at 1


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
    assert diff["p_value"] == pytest.approx(2 / 501, abs=1e-6)  # k = 0, yet never 0
    holm_p = [d["p_value_holm"] for d in result["auroc"].values()]
    raw_p = [d["p_value"] for d in result["auroc"].values()]
    assert all(h >= r for h, r in zip(holm_p, raw_p, strict=True))
    assert "Holm" in result["multiple_testing"]
    # Unpaired, each model's own interval is wider than the paired difference's.
    alone = interval(bootstrap_scores(y, b, np.arange(n) // 2, 500, seed=9).mean_auroc)
    assert diff["high"] - diff["low"] < alone["high"] - alone["low"]


def test_a_withheld_difference_has_no_p_value_and_a_small_p_never_prints_as_zero():
    from cxr.external.formats import IMAGE_UNIT
    from cxr.numbers import p_value, units

    rng = np.random.default_rng(8)
    y = (rng.random((60, 14)) < 0.3).astype(np.uint8)
    y[:, 13] = 0
    y[0, 13] = 1  # one Hernia patient: a third of the resamples miss it
    p = rng.random((60, 14)) + y
    result = paired_difference(y, p, p + 0.1 * rng.random((60, 14)), np.arange(60), 300)
    hernia = result["auroc"]["Hernia"]
    assert hernia["withheld"] and hernia["p_value"] is None and hernia["p_value_holm"] is None
    assert result["auroc"]["Effusion"]["p_value"] is not None
    assert p_value(2 / 5001) == "4.0e-04" and p_value(0.0123) == "0.012" and p_value(None) == "n/a"
    assert units("patient") == "patients"
    assert units(IMAGE_UNIT) == "images (the set has no patient ids)"
