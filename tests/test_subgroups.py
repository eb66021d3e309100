"""Subgroups by sex, age band and view add up to the whole split."""

import numpy as np
import pandas as pd

from cxr.config import EvaluateConfig
from cxr.evaluation.evaluate import evaluate
from cxr.evaluation.subgroups import age_band, group_order, subgroup_labels
from tests.test_evaluation import _scores, outputs


def test_age_bands():
    assert [age_band(a) for a in (0, 17, 18, 39.5, 40, 79, 80, 103)] == [
        "0-17",
        "0-17",
        "18-39",
        "18-39",
        "40-59",
        "60-79",
        "80+",
        "80+",
    ]
    assert age_band(float("nan")) == "unknown" and age_band(-1) == "unknown"


def test_odd_values_form_unknown_groups_and_nothing_is_dropped():
    index = pd.DataFrame(
        {"sex": ["M", "F", "O", None], "age": [5, np.nan, 50, 90], "view": ["PA", "AP", "LL", "AP"]}
    )
    groups = subgroup_labels(index)
    assert groups["sex"].tolist() == ["M", "F", "unknown", "unknown"]
    assert groups["view"].tolist() == ["PA", "AP", "unknown", "AP"]
    assert group_order(groups["age"]) == ["0-17", "40-59", "80+", "unknown"]


def test_subgroup_counts_add_up_to_the_whole_split():
    y_val, p_val = _scores(300, 1)
    y_test, p_test = _scores(500, 2)
    result = evaluate(
        outputs(y_val, p_val), outputs(y_test, p_test, seed=5), EvaluateConfig(bootstrap=20)
    )
    test = result.metrics["test"]
    for attribute, groups in result.metrics["subgroups"].items():
        assert sum(g["images"] for g in groups.values()) == test["images"], attribute
        for name in ("Hernia", "Atelectasis"):
            assert sum(g["positives"][name] for g in groups.values()) == test["positives"][name]
        assert all("low" in g["ci"]["mean_auroc"] for g in groups.values())
    assert set(result.metrics["subgroups"]["view"]) == {"AP", "PA"}
