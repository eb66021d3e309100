"""Wang et al.'s box localisation: heat-map boxes, IoBB, IoU and T(IoBB) by hand."""

import numpy as np
import pandas as pd
import pytest

from cxr.config import ExplainConfig
from cxr.explain.explain import case_values
from cxr.explain.localisation import best_overlaps, heatmap_boxes, iobb, iou, random_map
from cxr.explain.scores import figures_with_intervals
from cxr.findings import FINDINGS


def test_heatmap_boxes_are_the_regions_above_the_threshold():
    cam = np.zeros((20, 20))
    cam[2:5, 3:9] = 1.0  # rows 2-4, columns 3-8
    cam[12:16, 12:14] = 0.6
    cam[18, 0] = 0.4  # below 0.5 of the maximum
    boxes = heatmap_boxes(cam, 0.5)
    assert sorted(map(tuple, boxes.tolist())) == [(3, 2, 9, 5), (12, 12, 14, 16)]
    assert heatmap_boxes(np.zeros((8, 8)), 0.5).shape == (0, 4)


def test_iobb_and_iou_by_hand():
    predicted = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 22.0, 22.0]])
    truth = np.array([[5.0, 0.0, 25.0, 10.0]])
    # Box 1: intersection 5x10 = 50; own area 100; union 100 + 200 - 50 = 250.
    assert iobb(predicted, truth)[:, 0] == pytest.approx([0.5, 0.0])
    assert iou(predicted, truth)[:, 0] == pytest.approx([0.2, 0.0])
    # A tiny box inside the truth has IoBB 1 and a small IoU: why IoBB is never shown alone.
    inside = np.array([[6.0, 1.0, 7.0, 2.0]])
    assert best_overlaps(inside, truth) == pytest.approx((1.0, 1 / 200))
    assert best_overlaps(np.zeros((0, 4)), truth) == (0.0, 0.0)


def _cases(*boxes_per_case, finding="Mass"):
    n = len(boxes_per_case)
    return pd.DataFrame(
        {
            "row": range(n),
            "finding": [finding] * n,
            "class_index": [FINDINGS.index(finding)] * n,
            "boxes": list(boxes_per_case),
        }
    )


def test_case_values_score_a_map_on_the_box_and_its_control():
    size = 32
    truth = np.array([[8.0, 8.0, 16.0, 16.0]])
    cam = np.zeros((size, size), np.float32)
    cam[8:16, 8:16] = 1.0  # exactly the true box
    cams = np.stack([cam, np.roll(cam, 16, axis=1)])  # the second misses the box entirely
    config = ExplainConfig(box_threshold=0.5, tolerance=0.0, control_maps=20)
    values = case_values(cams, _cases(truth, truth), config, grids=[4])
    assert values.pointing.tolist() == [1.0, 0.0]
    assert values.mean_iou.tolist() == [1.0, 0.0]
    for t in ("0.1", "0.25", "0.5", "0.75"):
        assert values[f"iobb_{t}"].tolist() == values[f"iou_{t}"].tolist() == [1.0, 0.0]
    # Random maps hit an 8-px box in a 32-px image about as often as its area share.
    assert 0 <= values.random_pointing.mean() < 0.4
    assert 0 <= values.random_mean_iou.max() < 0.5
    assert values.pointing_gain.tolist() == pytest.approx(
        (values.pointing - values.random_pointing).tolist()
    )


def test_random_map_is_as_coarse_as_the_cam_and_seeded():
    a = random_map(64, [8, 4, 4], np.random.default_rng(0))
    assert a.shape == (64, 64) and a.min() == 0 and a.max() == pytest.approx(1)
    assert np.array_equal(a, random_map(64, [8, 4, 4], np.random.default_rng(0)))
    # Smooth at the scale of its finest grid (8 px cells at 64 px) ...
    assert np.abs(np.diff(a, axis=1)).max() < 0.25
    # ... and a coarser CAM gets a coarser control: fewer regions above half its maximum.
    rng = np.random.default_rng(1)
    fine = np.mean([len(heatmap_boxes(random_map(64, [16], rng), 0.5)) for _ in range(50)])
    coarse = np.mean([len(heatmap_boxes(random_map(64, [2], rng), 0.5)) for _ in range(50)])
    assert coarse < fine


def test_intervals_resample_patients_worked_by_hand():
    # Patient A: two hits; patient B: one miss. Figure 2/3; resamples give 0, 1/2... 1.
    values = pd.DataFrame({"pointing": [1.0, 1.0, 0.0]})
    out = figures_with_intervals(
        values, ["Mass"] * 3, ["A", "A", "B"], FINDINGS, resamples=2000, seed=0
    )
    mass = out["per_class"]["Mass"]
    assert mass["cases"] == 3 and mass["patients"] == 2
    assert mass["pointing"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    # Drawing {A, A} gives 1, {B, B} gives 0: the interval spans both ends.
    assert mass["pointing"]["low"] == 0.0 and mass["pointing"]["high"] == 1.0
    assert out["mean"]["pointing"]["value"] == pytest.approx(2 / 3, abs=1e-4)


def test_intervals_mean_over_classes_and_narrow_with_more_patients():
    rng = np.random.default_rng(0)

    def scored(patients_per_class):
        n = patients_per_class
        hits = np.concatenate([rng.random(n) < 0.8, rng.random(n) < 0.4]).astype(float)
        classes = ["Mass"] * n + ["Nodule"] * n
        return figures_with_intervals(
            pd.DataFrame({"pointing": hits}), classes, np.arange(2 * n), FINDINGS, 500, 0
        )

    small, large = scored(20), scored(400)
    for out in (small, large):
        per = out["per_class"]
        mean = (per["Mass"]["pointing"]["value"] + per["Nodule"]["pointing"]["value"]) / 2
        assert out["mean"]["pointing"]["value"] == pytest.approx(mean, abs=1e-4)
        assert list(per) == ["Mass", "Nodule"]  # FINDINGS order
    width = [o["mean"]["pointing"]["high"] - o["mean"]["pointing"]["low"] for o in (small, large)]
    assert width[1] < width[0] / 3  # 20x the patients: about sqrt(20) = 4.5x narrower
    big = large["mean"]["pointing"]
    assert big["low"] < 0.6 < big["high"]  # the truth, 0.6, is inside
