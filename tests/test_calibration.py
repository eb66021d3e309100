"""Calibration: ECE of calibrated and shifted scores as theory says; reliability; temperature."""

import numpy as np
import pytest

from cxr.config import EvaluateConfig
from cxr.evaluation.calibration import (
    Calibration,
    expected_calibration_error,
    fit_calibration,
    fit_one,
    reliability_table,
)

BINS = EvaluateConfig().calibration_bins  # the shipped 10


def _calibrated(n, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.8, n)
    return (rng.random(n) < p).astype(np.uint8), p


def test_ece_of_a_calibrated_score_is_near_zero():
    y, p = _calibrated(200_000, 0)
    # Sampling noise only: about sqrt(p(1-p)/20,000) per bin.
    assert expected_calibration_error(y, p, BINS) < 0.006


@pytest.mark.parametrize("shift", [0.05, 0.1, 0.2])
def test_ece_of_a_shifted_score_is_the_shift(shift):
    # Each bin's mean prediction exceeds its positive rate by exactly the shift.
    y, p = _calibrated(200_000, 1)
    assert expected_calibration_error(y, p + shift, BINS) == pytest.approx(shift, abs=0.006)


def test_ece_by_hand():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.15, 0.15, 0.95, 0.95])  # bins 1 and 9: gaps |0.15-0.5| and |0.95-0.5|
    assert expected_calibration_error(y, p, BINS) == pytest.approx((2 * 0.35 + 2 * 0.45) / 4)


def test_reliability_table_bins_and_empty_bins():
    y = np.array([[0], [1], [1], [1]])
    p = np.array([[0.12], [0.18], [0.91], [0.99]])
    table = reliability_table(y, p, ["A"], BINS)
    assert table.predicted.tolist() == pytest.approx([0.05 + 0.1 * i for i in range(10)])
    assert table.A[1] == 0.5 and table.A[9] == 1.0
    assert table.A.isna().sum() == 8  # empty bins stay blank, never 0


def _calibrated_logits(n, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, n)
    return (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.uint8), z


def test_temperature_recovers_an_overconfidence_factor():
    y, z = _calibrated_logits(20_000, 2)
    slope, intercept = fit_one(y, 2.5 * z, "temperature")  # logits 2.5 times too large
    assert 1 / slope == pytest.approx(2.5, rel=0.08) and intercept == 0.0
    assert fit_one(np.zeros(10), z[:10], "temperature") == (1.0, 0.0)  # no positives


def test_platt_removes_the_shift_a_temperature_cannot():
    y, z = _calibrated_logits(20_000, 3)
    shifted = (1.5 * z + 2.0)[:, None]  # overconfident and biased upward, as pos_weight does
    platt = fit_calibration(y[:, None], shifted, "platt")
    assert platt.slope[0] == pytest.approx(1 / 1.5, rel=0.08)
    assert platt.intercept[0] == pytest.approx(-2.0 / 1.5, abs=0.15)
    temperature = fit_calibration(y[:, None], shifted, "temperature")
    after = {
        c.method: expected_calibration_error(y, c.apply(shifted)[:, 0], BINS)
        for c in (platt, temperature)
    }
    assert after["platt"] < 0.02 < after["temperature"]
    # Rankings never change, and the fit survives a JSON round trip.
    assert np.array_equal(np.argsort(platt.apply(shifted)[:, 0]), np.argsort(shifted[:, 0]))
    again = Calibration.from_json(platt.to_json(["A"]), ["A"])
    np.testing.assert_array_equal(again.apply(shifted), platt.apply(shifted))


def test_a_perfectly_separated_class_gets_a_bounded_slope():
    y = np.array([0] * 50 + [1] * 50)
    z = np.r_[np.linspace(-3, -1, 50), np.linspace(1, 3, 50)]
    slope, intercept = fit_one(y, z, "platt")
    assert slope <= 20 + 1e-9 and abs(intercept) <= 20 + 1e-9
