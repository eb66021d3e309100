"""Calibration: ECE of calibrated and shifted scores as theory says; reliability; temperature."""

import numpy as np
import pytest

from cxr.evaluation.calibration import (
    apply_temperatures,
    expected_calibration_error,
    fit_temperature,
    reliability_table,
)


def _calibrated(n, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.8, n)
    return (rng.random(n) < p).astype(np.uint8), p


def test_ece_of_a_calibrated_score_is_near_zero():
    y, p = _calibrated(200_000, 0)
    # Sampling noise only: about sqrt(p(1-p)/20,000) per bin.
    assert expected_calibration_error(y, p) < 0.006


@pytest.mark.parametrize("shift", [0.05, 0.1, 0.2])
def test_ece_of_a_shifted_score_is_the_shift(shift):
    # Each bin's mean prediction exceeds its positive rate by exactly the shift.
    y, p = _calibrated(200_000, 1)
    assert expected_calibration_error(y, p + shift) == pytest.approx(shift, abs=0.006)


def test_ece_by_hand():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.15, 0.15, 0.95, 0.95])  # bins 1 and 9: gaps |0.15-0.5| and |0.95-0.5|
    assert expected_calibration_error(y, p) == pytest.approx((2 * 0.35 + 2 * 0.45) / 4)


def test_reliability_table_bins_and_empty_bins():
    y = np.array([[0], [1], [1], [1]])
    p = np.array([[0.12], [0.18], [0.91], [0.99]])
    table = reliability_table(y, p, ["A"])
    assert table.predicted.tolist() == pytest.approx([0.05 + 0.1 * i for i in range(10)])
    assert table.A[1] == 0.5 and table.A[9] == 1.0
    assert table.A.isna().sum() == 8  # empty bins stay blank, never 0


def test_temperature_recovers_an_overconfidence_factor():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 2, 20_000)
    y = (rng.random(len(z)) < 1 / (1 + np.exp(-z))).astype(np.uint8)
    t = fit_temperature(y, 2.5 * z)  # logits 2.5 times too large
    assert t == pytest.approx(2.5, rel=0.08)
    calibrated = apply_temperatures((2.5 * z)[:, None], np.array([t]))[:, 0]
    assert expected_calibration_error(y, calibrated) < 0.02
    assert fit_temperature(np.zeros(10), z[:10]) == 1.0  # no positives: left alone
