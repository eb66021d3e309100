"""Model shapes and checkpoints; training resumes from last.pt to bit-identical weights on CPU."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cxr.batches import SplitArrays
from cxr.config import AugmentConfig, ModelConfig, PreprocessConfig, TrainConfig
from cxr.findings import FINDINGS
from cxr.models import checkpoint
from cxr.models.registry import build_model
from cxr.training.augment import augment
from cxr.training.loop import RunFiles, TrainingDiverged, fit
from cxr.training.loss import FocalLoss

CPU = torch.device("cpu")


@pytest.mark.parametrize(("stride", "cells"), [(16, 4), (32, 2)])
def test_output_and_feature_shapes(stride, cells):
    model = build_model(ModelConfig(arch="densenet121", output_stride=stride)).eval()
    x = torch.rand(2, 1, 64, 64)
    assert model(x).shape == (2, 14)
    assert model.forward_features(x).shape == (2, 1024, cells, cells)


def test_checkpoint_reloads_to_identical_outputs(tmp_path):
    torch.manual_seed(1)
    config = ModelConfig(arch="densenet121", dropout=0.3)
    model = build_model(config).eval()
    record = checkpoint.ModelRecord(
        config, FINDINGS, PreprocessConfig(size=48), "none", None, 3, 0.5
    )
    checkpoint.save_model(tmp_path / "best.pt", checkpoint.cpu_state(model), record)
    again, read = checkpoint.load_model(tmp_path / "best.pt")  # weights_only=True inside
    x = torch.rand(3, 1, 48, 48)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert read == record and read.classes == FINDINGS and read.model_config.dropout == 0.3


def test_a_checkpoint_without_its_record_is_an_error_naming_what_is_missing(tmp_path):
    model = build_model(ModelConfig(arch="densenet121"))
    checkpoint.save(tmp_path / "best.pt", {"model_state": checkpoint.cpu_state(model)})
    with pytest.raises(checkpoint.CheckpointError, match=r"best\.pt: lacks .*'model_config'"):
        checkpoint.load_model(tmp_path / "best.pt")


def test_augment_identity_and_determinism():
    x = torch.rand(4, 1, 32, 32)
    off = AugmentConfig(
        crop_scale_min=1.0, crop_ratio=1.0, rotation_deg=0.0, brightness=0.0, contrast=0.0
    )
    assert torch.allclose(augment(x, off, torch.Generator().manual_seed(0)), x, atol=1e-5)
    on = AugmentConfig()
    a = augment(x, on, torch.Generator().manual_seed(3))
    b = augment(x, on, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.allclose(a, x, atol=1e-3)
    assert a.min() >= 0 and a.max() <= 1


def write_split(folder, split, n, size=32, seed=0):
    """A preprocessed split whose labels are learnable: class k brightens stripe k."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, 14)) < 0.3).astype(np.uint8)
    images = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
    for k in range(14):
        images[labels[:, k] == 1, 2 * k : 2 * k + 2, :] = 220
    np.save(folder / f"{split}.npy", images)
    index = pd.DataFrame({"row": np.arange(n), "image_id": [f"{split}{i}" for i in range(n)]})
    for k, name in enumerate(FINDINGS):
        index[name] = labels[:, k]
    index.to_parquet(folder / f"{split}.parquet")


@pytest.fixture()
def tiny(tmp_path):
    write_split(tmp_path, "train", 48, seed=1)
    write_split(tmp_path, "val", 32, seed=2)
    return SplitArrays(tmp_path, "train"), SplitArrays(tmp_path, "val")


TINY = TrainConfig(epochs=3, batch_size=16, lr=0.003, warmup_epochs=0.5, patience=10)
DENSENET = ModelConfig(arch="densenet121")
#: The shipped model at a size the tests afford: both paths, CBAM and FPN, on 32-px arrays.
DUALPATH = ModelConfig(arch="dualpath", local_size=0)


def run_files(out, model_config=DENSENET, fingerprint="f") -> RunFiles:
    return RunFiles(Path(out), fingerprint, checkpoint.ModelRecord(model_config, FINDINGS))


def _fit(tiny, out, config=TINY, on_epoch=None, model_config=DENSENET, fingerprint="f"):
    torch.manual_seed(0)
    model = build_model(model_config)
    criterion = FocalLoss.for_labels(tiny[0].labels, config.focal_gamma, config.class_weight)
    outcome = fit(
        model, criterion, *tiny, config, run_files(out, model_config, fingerprint), CPU, on_epoch
    )
    return checkpoint.load(Path(out) / "last.pt"), outcome


class Killed(Exception):
    pass


@pytest.mark.parametrize("model_config", [DENSENET, DUALPATH], ids=["densenet121", "dualpath"])
def test_resume_from_last_is_bit_identical(tiny, tmp_path, model_config):
    # model.precision: auto, so on a CPU with native bf16 both runs are bf16 autocast: a
    # bf16 run reproduces itself bit for bit on its machine as an fp32 one does.
    whole, _ = _fit(tiny, tmp_path / "whole", model_config=model_config)

    def kill_after_first_epoch(row):
        if row["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        _fit(tiny, tmp_path / "cut", on_epoch=kill_after_first_epoch, model_config=model_config)
    assert checkpoint.load(tmp_path / "cut" / "last.pt")["loop"]["epoch"] == 1
    resumed, outcome = _fit(tiny, tmp_path / "cut", model_config=model_config)
    assert resumed["loop"]["epoch"] == 3 and outcome.resumed_from_epoch == 1
    for name, tensor in whole["model_state"].items():
        assert torch.equal(tensor, resumed["model_state"][name]), name
    assert [r["val_loss"] for r in whole["loop"]["history"]] == [
        r["val_loss"] for r in resumed["loop"]["history"]
    ]


def test_changed_inputs_do_not_resume(tiny, tmp_path):
    _fit(tiny, tmp_path, TrainConfig(epochs=1, batch_size=16))
    _, again = _fit(tiny, tmp_path, TrainConfig(epochs=1, batch_size=16))
    assert again.resumed_from_epoch == 1 and again.epochs_run == 1  # the same run: done
    _, other = _fit(tiny, tmp_path, TrainConfig(epochs=1, batch_size=16), fingerprint="other")
    assert other.resumed_from_epoch == 0 and other.epochs_run == 1


def test_training_learns_and_keeps_the_best(tiny, tmp_path):
    last, _ = _fit(tiny, tmp_path, TrainConfig(epochs=4, batch_size=16, lr=0.003, patience=10))
    history = last["loop"]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    best = checkpoint.load(tmp_path / "best.pt")
    assert best["val_mean_auroc"] == max(r["val_mean_auroc"] for r in history)


def test_nan_loss_stops_with_the_step_named(tiny, tmp_path):
    # A learning rate of 1e30 blows the weights up on the first step.
    with pytest.raises(
        TrainingDiverged, match=r"at epoch 1, step 2; last good checkpoint: none yet"
    ):
        _fit(tiny, tmp_path, TrainConfig(epochs=1, batch_size=16, lr=1e30, warmup_epochs=0))


def test_finished_run_rewrites_a_removed_best(tiny, tmp_path):
    # DVC removes best.pt before rerunning the stage while last.pt persists.
    _fit(tiny, tmp_path)
    before = checkpoint.load(tmp_path / "best.pt")
    (tmp_path / "best.pt").unlink()
    last, _ = _fit(tiny, tmp_path)
    after = checkpoint.load(tmp_path / "best.pt")
    assert after["epoch"] == before["epoch"] == last["loop"]["best_epoch"]
    for name, tensor in before["model_state"].items():
        assert torch.equal(tensor, after["model_state"][name])


def test_resume_fingerprint_covers_configs_data_and_training_code(tmp_path, monkeypatch):
    from cxr.training import resume

    for split in ("train", "val"):
        np.save(tmp_path / f"{split}.npy", np.zeros((2, 4, 4), np.uint8))
        (tmp_path / f"{split}.parquet").write_bytes(b"index")
    configs = [ModelConfig(arch="densenet121"), TrainConfig()]
    first = resume.fingerprint(configs, tmp_path)
    assert resume.fingerprint(configs, tmp_path) == first
    assert (
        resume.fingerprint([ModelConfig(arch="densenet121", dropout=0.3), TrainConfig()], tmp_path)
        != first
    )
    np.save(tmp_path / "val.npy", np.ones((2, 4, 4), np.uint8))
    changed_data = resume.fingerprint(configs, tmp_path)
    assert changed_data != first
    # model.precision: auto resolved to bf16 here and to fp32 elsewhere: not the same run.
    bf16 = resume.fingerprint(configs, tmp_path, "bf16 autocast (CPU: avx512_bf16)")
    assert bf16 != resume.fingerprint(configs, tmp_path, "fp32")
    # Other training code, same configs and data: not the same run.
    monkeypatch.setattr(resume, "TRAINING_CODE", resume.TRAINING_CODE[:-1])
    assert resume.fingerprint(configs, tmp_path) != changed_data


def test_label_gaps_name_what_a_split_cannot_teach_or_score():
    from cxr.evaluation.metrics import label_gap_warnings, label_gaps

    y = np.zeros((6, 14), dtype=np.float32)
    y[:3, 0] = 1  # Atelectasis: both values
    y[:, 1] = 1  # Cardiomegaly: every image positive
    y[2, 4:] = 1  # the rest but Effusion and Infiltration have one positive
    gaps = label_gaps(y, FINDINGS)
    assert gaps == {"no_positives": ["Effusion", "Infiltration"], "no_negatives": ["Cardiomegaly"]}
    assert label_gaps(np.ones((2, 14)), FINDINGS)["no_negatives"] == list(FINDINGS)
    lines = label_gap_warnings({"train": gaps, "val": label_gaps(np.eye(14)[:13], FINDINGS)})
    assert lines == [
        "train split: Effusion, Infiltration: no positives; the model has nothing to learn from",
        "train split: Cardiomegaly: no negatives; the model has nothing to learn from",
        "val split: Hernia: no positives; no validation AUROC (early stopping uses the others), "
        "and evaluate's threshold falls back to 0.5",
    ]


# --- files that rotted ------------------------------------------------------


def test_damaged_processed_split_is_an_error_naming_the_file(tmp_path):
    from cxr.errors import InputError

    write_split(tmp_path, "train", 48, seed=1)
    npy, parquet = tmp_path / "train.npy", tmp_path / "train.parquet"
    good = npy.read_bytes()
    npy.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(InputError, match=r"train\.npy: damaged or truncated .*repro preprocess"):
        SplitArrays(tmp_path, "train")
    npy.write_bytes(good)
    index = pd.read_parquet(parquet)
    index.iloc[:-1].to_parquet(parquet)  # one row short
    with pytest.raises(InputError, match=r"has 48 rows but .*train\.parquet describes 47"):
        SplitArrays(tmp_path, "train")
    index.assign(row=index.row[::-1].to_numpy()).to_parquet(parquet)  # rows out of order
    with pytest.raises(InputError, match=r"row column is not 0\.\.n-1"):
        SplitArrays(tmp_path, "train")
    parquet.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"train\.parquet: damaged or truncated"):
        SplitArrays(tmp_path, "train")
    parquet.unlink()
    with pytest.raises(InputError, match=r"train\.parquet: missing"):
        SplitArrays(tmp_path, "train")


def test_damaged_checkpoint_is_an_error_naming_the_file(tiny, tmp_path):
    _fit(tiny, tmp_path, TrainConfig(epochs=1, batch_size=16))
    best = tmp_path / "best.pt"
    data = best.read_bytes()
    best.write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match=r"best\.pt: not a readable checkpoint"):
        checkpoint.load_model(best)
    torch.save({"weights": 1}, best)
    with pytest.raises(checkpoint.CheckpointError, match="not a cxr checkpoint"):
        checkpoint.load_model(best)


def test_damaged_last_checkpoint_trains_from_the_start_with_a_warning(tiny, tmp_path):
    whole, _ = _fit(tiny, tmp_path / "whole", TrainConfig(epochs=1, batch_size=16))
    out = tmp_path / "rotted"
    out.mkdir()
    (out / "last.pt").write_bytes(b"\x00" * 1000)
    with pytest.warns(UserWarning, match=r"cannot resume: .*last\.pt.*training from the first"):
        again, _ = _fit(tiny, out, TrainConfig(epochs=1, batch_size=16))
    assert again["loop"]["epoch"] == 1
    for name, tensor in whole["model_state"].items():
        assert torch.equal(tensor, again["model_state"][name]), name
