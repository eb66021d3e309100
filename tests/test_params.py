"""params.yaml reading: YAML 1.2 numbers, unknown keys, types, and the NIH profile switch."""

import dataclasses
import shutil

import pytest

from commands.profiles import CHEXNET, DEMO, NIH, NIH_FULL, apply_profile, default
from cxr.config import (
    SECTIONS,
    DemoConfig,
    EvaluateConfig,
    ExplainConfig,
    IngestConfig,
    ModelConfig,
    PreprocessConfig,
    TrainConfig,
)
from stages.params import ParamsError, load_params, section
from tests.conftest import ROOT


def test_shipped_params_build_every_section():
    params = load_params(ROOT / "params.yaml")
    assert section(params, "demo", DemoConfig).images > 0
    assert section(params, "ingest", IngestConfig).raw_dir == "data/raw/demo"
    assert section(params, "preprocess", PreprocessConfig).size == 64
    assert section(params, "model", ModelConfig).arch == "densenet121"  # chosen on validation
    train = section(params, "train", TrainConfig)
    assert train.augment.hflip == 0.0  # chest anatomy is not symmetric
    assert section(params, "evaluate", EvaluateConfig).threshold_policy == "max_f1"
    assert section(params, "explain", ExplainConfig).tolerance == 15 / 224


def test_params_yaml_is_the_dataclass_defaults_key_for_key():
    # One source: the dataclass defaults. params.yaml writes every one of them out,
    # with comments, and `cxr params demo` restores them.
    params = load_params(ROOT / "params.yaml")
    assert set(params) == set(SECTIONS)
    for name, cls in SECTIONS.items():
        assert set(params[name]) == {f.name for f in dataclasses.fields(cls)}, name
        assert section(params, name, cls) == cls(), name
    assert all(DEMO[k] == default(k) for k in DEMO)
    assert set(DEMO) == {"ingest.raw_dir", *NIH, *CHEXNET}


def _write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return load_params(path)


def test_nested_section_and_dvc_set_values(tmp_path):
    # What `dvc exp run -S train.lr=1e-5 -S train.augment.rotation_deg=0` writes.
    params = _write(tmp_path, "train:\n  lr: 1e-05\n  augment:\n    rotation_deg: 0\n")
    train = section(params, "train", TrainConfig)
    assert train.lr == 1e-05 and train.augment.rotation_deg == 0.0
    assert train.augment.crop_ratio == 1.1  # unset keys keep their defaults
    with pytest.raises(ParamsError, match=r"unknown key\(s\) train.augment.rotate"):
        _write(tmp_path, "train:\n  augment:\n    rotate: 3\n")


def test_yaml_1_2_numbers_and_int_for_float(tmp_path):
    params = _write(
        tmp_path, "preprocess:\n  clahe_clip: 1e-05\n  size: 64\n  keep_aspect: false\n"
    )
    cfg = section(params, "preprocess", PreprocessConfig)
    assert cfg.clahe_clip == 1e-05 and isinstance(cfg.clahe_clip, float)
    params = _write(tmp_path, "preprocess:\n  clahe_clip: 2\n")
    assert section(params, "preprocess", PreprocessConfig).clahe_clip == 2.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("preprocess:\n  sise: 64\n", r"unknown key\(s\) preprocess.sise"),
        ("preprocess:\n  size: 6.5\n", "preprocess.size = 6.5; expected an integer"),
        ("preprocess:\n  clahe: 'yes'\n", "expected true or false"),
        (
            "ingest:\n  split: random\n",
            r"ingest.split = 'random'; expected one of \('patient', 'official'\)",
        ),
        ("ingest: [1, 2]\n", "must be a mapping"),
    ],
)
def test_bad_params_are_named(tmp_path, text, message):
    with pytest.raises(ParamsError, match=message):
        _write(tmp_path, text)  # every section is checked as the file loads


def test_nih_profile_rewrites_values_and_keeps_comments(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    before = path.read_text()
    changes = apply_profile(path, {"ingest.raw_dir": "/data/nih", **NIH})
    assert any(c.startswith("ingest.split: 'patient' -> 'official'") for c in changes)
    after = load_params(path)
    assert after["ingest"]["raw_dir"] == "/data/nih" and after["preprocess"]["size"] == 224
    assert after["ingest"]["box_frame"] == 1024
    assert "# an NIH-layout folder" in path.read_text()
    apply_profile(path, DEMO)
    assert path.read_text() == before
    with pytest.raises(ParamsError, match=r"no key 'ingest\.nope'"):
        apply_profile(path, {"ingest.nope": 1})


def test_chexnet_profile_sets_chexnets_recipe_and_demo_undoes_it(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    before = path.read_text()
    apply_profile(path, {"ingest.raw_dir": "/data/nih", **CHEXNET})
    train = load_params(path)["train"]
    # Rajpurkar et al. 2017: Adam at 1e-3 for the whole network, batch 16, weighted BCE,
    # horizontal flips.
    assert (train["lr"], train["backbone_lr_mult"], train["weight_decay"]) == (0.001, 1.0, 0.0)
    assert (train["batch_size"], train["focal_gamma"], train["class_weight"]) == (
        16, 0.0, "pos_weight"
    )  # fmt: skip
    assert train["augment"]["hflip"] == 0.5 and train["augment"]["rotation_deg"] == 0.0
    assert load_params(path)["preprocess"]["clahe"] is False
    # cxr's NIH settings after CheXNet's: none of CheXNet's keys survives.
    apply_profile(path, {"ingest.raw_dir": "/data/nih", **NIH_FULL})
    nih = load_params(path)
    for dotted in CHEXNET:
        section, *keys = dotted.split(".")
        value = nih[section]
        for key in keys:
            value = value[key]
        assert value == NIH.get(dotted, default(dotted)), dotted
    apply_profile(path, DEMO)
    assert path.read_text() == before
