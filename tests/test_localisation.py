"""Wang et al.'s box localisation: heat-map boxes, IoBB, IoU and T(IoBB) by hand."""

import numpy as np
import pandas as pd
import pytest

from cxr.explain.explain import ExplainConfig, box_overlap
from cxr.explain.localisation import (
    accuracy,
    best_overlaps,
    heatmap_boxes,
    iobb,
    iou,
    random_map,
)


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


def test_accuracy_counts_overlaps_larger_than_t():
    assert accuracy(np.array([0.05, 0.1, 0.3, 0.6, 0.9])) == {
        "0.1": 0.6,
        "0.25": 0.6,
        "0.5": 0.4,
        "0.75": 0.2,
    }


def test_box_overlap_scores_a_map_on_the_box_and_its_control():
    size = 32
    truth = np.array([[8.0, 8.0, 16.0, 16.0]])
    cam = np.zeros((size, size), np.float32)
    cam[8:16, 8:16] = 1.0  # exactly the true box
    cases = pd.DataFrame(
        {"row": [0, 1], "finding": ["Mass", "Mass"], "class_index": [4, 4], "boxes": [truth, truth]}
    )
    cams = np.stack([cam, np.roll(cam, 16, axis=1)])  # the second misses the box entirely
    scored, summary = box_overlap(cams, cases, ExplainConfig(box_threshold=0.5))
    assert scored.iobb.tolist() == [1.0, 0.0] and scored.iou.tolist() == [1.0, 0.0]
    mass = summary["per_class"]["Mass"]
    assert mass["iobb_accuracy"] == {"0.1": 0.5, "0.25": 0.5, "0.5": 0.5, "0.75": 0.5}
    assert mass["mean_iou"] == 0.5
    assert 0 <= mass["random_mean_iou"] < 0.5


def test_random_map_is_smooth_and_seeded():
    a = random_map(64, np.random.default_rng(0))
    assert a.shape == (64, 64) and np.array_equal(a, random_map(64, np.random.default_rng(0)))
    # Neighbouring pixels are close: the noise lives on an 8-px grid.
    assert np.abs(np.diff(a, axis=1)).max() < 0.2
