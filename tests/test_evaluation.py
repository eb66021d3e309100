"""Metrics agree with scikit-learn; thresholds come from validation only; curve tables."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_curve, roc_auc_score

from cxr.config import EvaluateConfig
from cxr.evaluation.calibration import bound_hits
from cxr.evaluation.evaluate import SplitOutputs, evaluate
from cxr.evaluation.metrics import (
    auroc,
    confusion_table,
    interpolated_precision,
    nan_mean,
    pr_table,
    roc_table,
)
from cxr.evaluation.thresholds import choose_threshold, lowest_called
from cxr.findings import FINDINGS


def _scores(n, seed, signal=1.5):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 14)) < np.linspace(0.05, 0.4, 14)).astype(np.uint8)
    p = 1 / (1 + np.exp(-(rng.normal(size=(n, 14)) + signal * y - 1.5)))
    return y, p


def test_known_case_matches_hand_and_sklearn():
    y = np.array([[0], [0], [1], [1]])
    p = np.array([[0.1], [0.4], [0.35], [0.8]])
    assert auroc(y, p, ["A"])[0] == pytest.approx(0.75)  # 3 of 4 positive-negative pairs ordered
    table = confusion_table(y, p, np.array([0.38]), ["A"]).iloc[0]
    tn, fp, fn, tp = confusion_matrix(y[:, 0], p[:, 0] >= 0.38).ravel()
    assert (table.TP, table.FP, table.FN, table.TN) == (tp, fp, fn, tn) == (1, 1, 1, 1)
    assert table.sensitivity == table.specificity == table.PPV == 0.5


def test_per_class_auroc_equals_sklearn_and_undefined_is_nan():
    y, p = _scores(300, 0)
    y[:, 3] = 0  # no positives in this split
    with pytest.warns(UserWarning, match="Infiltration: only one label value"):
        ours = auroc(y, p, FINDINGS)
    assert np.isnan(ours[3])
    for k in (0, 5, 13):
        assert ours[k] == pytest.approx(roc_auc_score(y[:, k], p[:, k]))
    assert nan_mean(ours) == pytest.approx(np.mean(np.delete(ours, 3)))


def test_max_f1_threshold_is_the_best_on_validation():
    y, p = _scores(400, 1)
    t = choose_threshold(y[:, 6], p[:, 6], "max_f1")
    best = max(f1_score(y[:, 6], p[:, 6] >= c) for c in np.unique(p[:, 6]))
    assert f1_score(y[:, 6], p[:, 6] >= t) == pytest.approx(best)


def test_sensitivity_policy_reaches_its_target():
    y, p = _scores(400, 2)
    t = choose_threshold(y[:, 10], p[:, 10], "sensitivity", 0.9)
    assert (p[y[:, 10] == 1, 10] >= t).mean() >= 0.9


def outputs(y: np.ndarray, p: np.ndarray, seed: int = 0) -> SplitOutputs:
    """A split as the evaluate stage sees it: metadata, labels and logits."""
    rng = np.random.default_rng(seed)
    n = len(y)
    index = pd.DataFrame(
        {
            "image_id": [f"{i:08d}_000.png" for i in range(n)],
            "patient_id": np.arange(n) // 2,
            "age": rng.integers(1, 95, n).astype(float),
            "sex": rng.choice(["M", "F"], n),
            "view": rng.choice(["PA", "AP"], n),
        }
    )
    for k, name in enumerate(FINDINGS):
        index[name] = y[:, k]
    return SplitOutputs(index, np.log(p / (1 - p)))


def test_thresholds_come_from_validation_never_test():
    y_val, p_val = _scores(300, 3)
    y_test, p_test = _scores(300, 4)
    config = EvaluateConfig(bootstrap=50, calibration="none")
    a = evaluate(outputs(y_val, p_val), outputs(y_test, p_test), config)
    # Scrambling the test split changes its metrics, never the thresholds.
    b = evaluate(outputs(y_val, p_val), outputs(1 - y_test, p_test[::-1]), config)
    assert a.thresholds == b.thresholds
    p_val = a.probs["val"]
    assert a.metrics["test"]["mean_auroc"] != b.metrics["test"]["mean_auroc"]
    # And they call exactly the validation cases the policy chose, strictly between two of
    # their scores.
    z_val = np.log(p_val / (1 - p_val))
    for k, name in enumerate(FINDINGS):
        t = a.thresholds[name]
        called = p_val[:, k] >= t
        assert (called == (z_val[:, k] >= lowest_called(y_val[:, k], z_val[:, k], "max_f1"))).all()
        assert not np.isclose(p_val[:, k], t, rtol=0, atol=1e-12).any(), name
    assert a.metrics["test_at_val_thresholds"]["Hernia"]["TP"] == int(
        ((a.probs["test"][:, 13] >= a.thresholds["Hernia"]) & (y_test[:, 13] == 1)).sum()
    )


def test_curve_tables_have_all_classes_on_a_fixed_grid():
    y, p = _scores(500, 5)
    roc, pr = roc_table(y, p, FINDINGS), pr_table(y, p, FINDINGS)
    assert list(roc.columns) == ["fpr", *FINDINGS] and list(pr.columns) == ["recall", *FINDINGS]
    assert len(roc) == len(pr) == 101
    assert (roc.iloc[-1, 1:] == 1.0).all() and (
        np.diff(roc.iloc[:, 1:].to_numpy(), axis=0) >= 0
    ).all()
    # The area under the tabulated ROC curve is close to the exact AUROC.
    area = np.trapezoid(roc["Hernia"], roc.fpr)
    assert area == pytest.approx(roc_auc_score(y[:, 13], p[:, 13]), abs=0.02)
    assert ((pr.iloc[:, 1:] >= 0) & (pr.iloc[:, 1:] <= 1)).all().all()


def test_interpolated_precision_worked_by_hand():
    # Points (recall, precision): (1, 1/2), (1, 2/3), (1/2, 1/2), (1/2, 1), (0, 1).
    y, p = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])
    precision, recall, _ = precision_recall_curve(y, p)
    at = np.array([0.0, 0.25, 0.5, 0.51, 0.75, 1.0])
    expected = [1.0, 1.0, 1.0, 2 / 3, 2 / 3, 2 / 3]
    assert interpolated_precision(precision, recall, at) == pytest.approx(expected)


def test_pr_table_is_scikit_learns_curve_interpolated():
    y, p = _scores(500, 5)
    pr = pr_table(y, p, FINDINGS)
    for k, name in enumerate(FINDINGS):
        precision, recall, _ = precision_recall_curve(y[:, k], p[:, k])
        # The definition, point by point: best precision at any recall >= r.
        brute = [precision[recall >= r].max() for r in pr.recall]
        assert pr[name].to_numpy() == pytest.approx(brute, abs=1e-5)
        column = pr[name].to_numpy()
        assert (np.diff(column) <= 0).all()  # never rises with recall
        assert column[0] == 1.0 and column.min() < 0.9  # a curve, not a flat line
        # At full recall it is the best precision that finds every positive.
        assert column[-1] == pytest.approx(precision[recall == 1].max(), abs=1e-5)


def test_temperature_scaling_keeps_rankings_and_is_fitted_on_validation():
    def calibrated(n, seed):
        rng = np.random.default_rng(seed)
        p = 1 / (1 + np.exp(-rng.normal(0, 1.5, (n, 14))))
        return (rng.random((n, 14)) < p).astype(np.uint8), p

    (y_val, p_val), (y_test, p_test) = calibrated(1500, 6), calibrated(1500, 7)
    # Overconfident logits: three times too large.
    val, test = outputs(y_val, p_val), outputs(y_test, p_test)
    val.logits, test.logits = 3 * val.logits, 3 * test.logits
    raw = evaluate(val, test, EvaluateConfig(bootstrap=0, calibration="none"))
    cal = evaluate(val, test, EvaluateConfig(bootstrap=0, calibration="temperature"))
    assert cal.metrics["test"]["auroc"] == raw.metrics["test"]["auroc"]
    assert all(2.0 < 1 / a < 4.5 for a in cal.calibration.slope)
    assert (cal.calibration.intercept == 0).all()
    c = cal.metrics["calibration"]["test"]
    assert c["mean_ece"] < 0.5 * c["mean_ece_uncalibrated"]
    # Changing test labels cannot move a temperature.
    other = evaluate(
        val, outputs(1 - y_test, p_test), EvaluateConfig(bootstrap=0, calibration="temperature")
    )
    assert np.array_equal(other.calibration.slope, cal.calibration.slope)


def test_thresholds_validation_cannot_choose_are_reported_not_silent():
    y_val, p_val = _scores(200, 8)
    y_test, p_test = _scores(200, 9)
    y_val[:, 13] = 0  # no Hernia in validation
    y_val[:, 6] = 0
    y_val[:3, 6] = 1  # three Pneumonia positives
    with pytest.warns(UserWarning) as caught:
        result = evaluate(
            outputs(y_val, p_val), outputs(y_test, p_test), EvaluateConfig(bootstrap=20)
        )
    messages = " ".join(str(w.message) for w in caught)
    assert "Hernia: validation has only one label value" in messages
    assert "Pneumonia: threshold chosen from 3 validation positive(s)" in messages
    support = result.metrics["threshold_support"]
    assert support == {"defaulted_to_0.5": ["Hernia"], "few_validation_positives": {"Pneumonia": 3}}
    assert result.thresholds["Hernia"] == 0.5
    # The undefined validation AUROC is null in the JSON, never NaN.
    import json

    text = json.dumps(result.metrics, allow_nan=False)
    assert result.metrics["val"]["auroc"]["Hernia"] is None and "NaN" not in text
    assert result.metrics["val"]["classes_in_mean"] == 13


def test_a_separable_validation_split_gets_finite_calibration_and_thresholds_inside_0_1():
    # Edema and Hernia in the committed run: validation separated them, Platt's slope hit
    # its bound of 20, calibrated probabilities tied at 1.0 and the thresholds were 1.0.
    rng = np.random.default_rng(7)
    n = 400
    y_val = (rng.random((n, 14)) < 0.1).astype(np.uint8)
    y_test = (rng.random((n, 14)) < 0.1).astype(np.uint8)
    z_val = rng.normal(size=(n, 14)) + 12.0 * y_val  # every positive far above every negative
    z_test = rng.normal(size=(n, 14)) + 12.0 * y_test
    z_test[: n // 2] += 0.7 * rng.normal(size=(n // 2, 14))
    p = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    result = evaluate(
        outputs(y_val, p(z_val)), outputs(y_test, p(z_test)), EvaluateConfig(bootstrap=100)
    )
    assert not bound_hits(result.calibration, FINDINGS)
    assert result.metrics["calibration"]["on_a_bound"] == []
    thresholds = np.array(list(result.thresholds.values()))
    assert ((thresholds > 0) & (thresholds < 1)).all()
    assert (result.probs["test"] < 1.0).all() and (result.probs["val"] < 1.0).all()  # no ties
    for k, name in enumerate(FINDINGS):  # rank figures: scikit-learn's on the raw scores
        assert result.metrics["test"]["auroc"][name] == pytest.approx(
            roc_auc_score(y_test[:, k], z_test[:, k]), abs=1e-6
        )
        called = (result.probs["val"][:, k] >= thresholds[k]).astype(int)
        assert (called == y_val[:, k]).all(), name  # the cut still separates validation


def test_a_threshold_lies_between_two_scores_and_below_everything_when_all_are_called():
    y = np.array([0, 0, 1, 1])
    z = np.array([-2.0, -1.0, 1.0, 2.0])
    assert choose_threshold(y, z, "max_f1") == 0.0  # between -1 and 1, not the score 1
    assert choose_threshold(y, z, "sensitivity", 1.0) == 0.0
    assert choose_threshold(np.array([1, 1, 0, 1]), z, "sensitivity", 1.0) == -3.0
