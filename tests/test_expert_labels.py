"""Google's 2019 radiologist labels: the real file's test set, refusal of val, head mapping."""

import numpy as np
import pandas as pd
import pytest

from cxr.evaluation.expert import EXPERT_HEADS, expert_evaluation, expert_scores
from cxr.findings import FINDINGS
from cxr.nih.expert_labels import ExpertLabelError, read_expert_labels
from cxr.nih.split_lists import read_split_list


@pytest.fixture(scope="module")
def expert_file(nih_dir):
    return nih_dir / "google2019_nih-chest-xray-labels.csv.gz"


def test_real_file_selects_exactly_the_1962_test_images(expert_file, nih_dir):
    test = read_expert_labels(expert_file, "test")
    assert len(test) == 1962 and test.image_id.is_unique
    assert set(test.set_id) == {"test"}
    official_test = set(read_split_list(nih_dir / "test_list.txt"))
    assert set(test.image_id) <= official_test
    assert int(test.Pneumothorax.sum()) == 195  # YES count among the test rows


def test_val_is_refused_because_the_model_trained_on_it(expert_file):
    with pytest.raises(ExpertLabelError, match="train_val"):
        read_expert_labels(expert_file, "val")


def test_bad_values_name_the_line(tmp_path):
    path = tmp_path / "google2019_nih-chest-xray-labels.csv"
    path.write_text(
        "Image Index,Patient ID,Fracture,Pneumothorax,Airspace opacity,Nodule or mass,Set Id\n"
        "a.png,1,NO,NO,YES,NO,test\n"
        "b.png,2,NO,MAYBE,NO,NO,test\n"
    )
    with pytest.raises(ExpertLabelError, match=r"line 3: Pneumothorax 'MAYBE'"):
        read_expert_labels(path)


def test_heads_are_combined_by_maximum():
    probs = np.zeros((1, 14))
    probs[0, FINDINGS.index("Mass")] = 0.7
    probs[0, FINDINGS.index("Nodule")] = 0.2
    probs[0, FINDINGS.index("Infiltration")] = 0.4
    probs[0, FINDINGS.index("Pneumothorax")] = 0.1
    assert list(EXPERT_HEADS) == ["Pneumothorax", "Nodule or mass", "Airspace opacity"]
    assert expert_scores(probs).tolist() == [[0.1, 0.7, 0.4]]


def test_only_images_in_this_runs_test_split_are_scored():
    rng = np.random.default_rng(0)
    n = 200
    index = pd.DataFrame({"image_id": [f"{i}.png" for i in range(n)], "patient_id": np.arange(n)})
    for name in FINDINGS:
        index[name] = (rng.random(n) < 0.3).astype(np.uint8)
    probs = rng.random((n, 14))
    expert = pd.DataFrame(
        {
            "image_id": [f"{i}.png" for i in range(150)] + ["x.png", "y.png"],
            "patient_id": np.arange(152),
            "set_id": "test",
            "Fracture": 0,
            "Pneumothorax": (rng.random(152) < 0.3).astype(np.uint8),
            "Airspace opacity": (rng.random(152) < 0.5).astype(np.uint8),
            "Nodule or mass": (rng.random(152) < 0.3).astype(np.uint8),
            "split": ["test"] * 140 + ["train"] * 10 + ["", ""],
        }
    )
    result = expert_evaluation(expert, index, probs, resamples=50, seed=0, level=0.95)
    assert result["images"] == 140
    assert result["not_in_test_split"] == {"not ingested": 2, "train": 10}
    assert set(result["findings"]) == set(EXPERT_HEADS)
    assert "Fracture" in result["not_evaluated"]
