"""External-set scoring: each finding on its known labels only (agreeing with scikit-learn
there), unscored findings absent, the drop against the reference split with an interval from
independent patient resamples, and calls at the reference thresholds."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from cxr.evaluation.calibration import expected_calibration_error
from cxr.external.metrics import Scored, external_headline, external_metrics
from cxr.findings import FINDINGS

EFFUSION, EDEMA = FINDINGS.index("Effusion"), FINDINGS.index("Edema")


def _set(n: int, signal: float, seed: int, unknown: float = 0.0) -> Scored:
    """``n`` images of ``n // 3`` patients; Effusion and Edema labelled, scores that rank
    positives higher by ``signal``; a share ``unknown`` of the labels NaN; the rest
    unscored."""
    rng = np.random.default_rng(seed)
    labels = np.full((n, len(FINDINGS)), np.nan)
    logits = rng.normal(size=(n, len(FINDINGS)))
    for k in (EFFUSION, EDEMA):
        y = (rng.random(n) < 0.3).astype(float)
        logits[:, k] = rng.normal(size=n) + signal * y
        y[rng.random(n) < unknown] = np.nan
        labels[:, k] = y
    probs = 1 / (1 + np.exp(-(0.8 * logits - 0.3)))  # a calibration: monotone, not identity
    return Scored(labels, probs, logits, np.arange(n) // 3)


def test_each_finding_is_scored_on_its_known_labels_and_the_drop_is_measured():
    external, reference = _set(600, 1.0, seed=1, unknown=0.1), _set(900, 3.0, seed=2)
    thresholds = np.full(len(FINDINGS), 0.6)
    m = external_metrics(external, reference, ["Effusion", "Edema"], thresholds, 300)
    assert set(m["per_class"]) == {"Effusion", "Edema"}  # unscored findings: absent
    for name, k in (("Effusion", EFFUSION), ("Edema", EDEMA)):
        row, known = m["per_class"][name], ~np.isnan(external.labels[:, k])
        y, p = external.labels[known, k], external.probs[known, k]
        assert row["unknown"] == (~known).sum() > 0 and row["positives"] == y.sum()
        assert row["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
        assert row["auprc"] == pytest.approx(average_precision_score(y, p), abs=1e-6)
        ref = roc_auc_score(reference.labels[:, k], reference.probs[:, k])
        assert row["nih_test_auroc"] == pytest.approx(ref, abs=1e-6)
        assert row["drop"] == pytest.approx(row["auroc"] - ref, abs=1e-6) and row["drop"] < -0.1
        ci = row["drop_ci"]
        assert ci["low"] < row["drop"] < ci["high"] < 0  # a weaker signal: a real drop
        assert row["auroc_ci"]["low"] < row["auroc"] < row["auroc_ci"]["high"]
        called = p >= 0.6
        assert row["sensitivity"] == pytest.approx(called[y == 1].mean(), abs=1e-6)
        assert row["specificity"] == pytest.approx((~called[y == 0]).mean(), abs=1e-6)
        assert row["ece"] == pytest.approx(expected_calibration_error(y, p, 10), abs=1e-6)
    assert m["mean_drop"] == pytest.approx(
        np.mean([m["per_class"][n]["drop"] for n in ("Effusion", "Edema")]), abs=1e-6
    )
    assert m["mean_drop_ci"]["high"] < 0 and m["patients"] == 200


def test_the_same_set_as_reference_drops_nothing_within_its_interval():
    same = _set(450, 2.0, seed=3)
    m = external_metrics(same, same, ["Effusion"], np.full(len(FINDINGS), 0.5), 300)
    row = m["per_class"]["Effusion"]
    assert row["drop"] == 0 and row["drop_ci"]["low"] < 0 < row["drop_ci"]["high"]


def test_a_finding_with_one_kind_of_label_has_no_auroc_and_no_mean_share():
    one_kind = _set(300, 2.0, seed=4)
    one_kind.labels[:, EDEMA] = np.where(np.isnan(one_kind.labels[:, EDEMA]), np.nan, 0.0)
    m = external_metrics(one_kind, _set(300, 2.0, seed=5), ["Effusion", "Edema"],
                         np.full(len(FINDINGS), 0.5), 200)  # fmt: skip
    edema = m["per_class"]["Edema"]
    assert edema["auroc"] is None and edema["sensitivity"] is None
    assert m["mean_auroc"] == m["per_class"]["Effusion"]["auroc"]  # the mean skips it


def test_an_nih_reread_has_no_drop_interval_and_image_sets_say_they_resample_images():
    from cxr.external.formats import FORMATS, IMAGE_UNIT

    assert {f for f, form in FORMATS.items() if form.nih_films} == {"rsna", "siim"}
    assert {f for f, form in FORMATS.items() if not form.patient_ids} == {"vindr", "rsna", "siim"}
    external, reference = _set(300, 1.0, seed=3), _set(300, 3.0, seed=4)
    thresholds = np.full(len(FINDINGS), 0.5)
    form = FORMATS["rsna"]
    m = external_metrics(external, reference, ["Effusion"], thresholds, 200,
                         unit=form.resampling_unit, origin=form.origin)  # fmt: skip
    assert m["origin"] == "nih_reread" and m["unit"] == IMAGE_UNIT and "patients" not in m
    assert m["mean_drop"] is not None and m["mean_drop_ci"]["low"] is None
    assert "not an external drop" in m["mean_drop_ci"]["withheld"]
    assert m["mean_drop_ci"]["resamples"] == 200 and "usable_resamples" in m["mean_drop_ci"]
    headline = external_headline(m)  # what dvc exp show prints: no "drop" for a re-read
    assert not [k for k in headline if "drop" in k]
    assert headline["mean_reread_difference"] == m["mean_drop"]
    assert m["per_class"]["Effusion"]["drop_ci"]["withheld"]
    assert m["mean_auroc_ci"]["unit"] == IMAGE_UNIT and m["mean_auroc_ci"]["low"] is not None
    ordinary = external_metrics(external, reference, ["Effusion"], thresholds, 200)
    assert ordinary["origin"] == "external" and ordinary["mean_drop_ci"]["low"] is not None
