"""The input guard (``cxr.guard``): what is not a frontal chest radiograph is refused, with the
right reason; radiographs, the real NIH sample's included, are not called "not a radiograph";
the guard survives a save and load; a model without one still predicts, with a warning."""

import importlib.util
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from commands.cli import app
from cxr.config import PreprocessConfig
from cxr.demo.render import ImageSpec, render, render_lateral
from cxr.demo.site import NIH_LIKE, SECOND_HOSPITAL
from cxr.errors import InputError
from cxr.guard.distance import fit_distance
from cxr.guard.guard import NOT_A_RADIOGRAPH, Guard, fit_guard
from cxr.guard.image import failed_checks
from cxr.inference import Predictor
from cxr.preprocess import prepare_arrays
from cxr.views import Views
from tests.conftest import ROOT

#: Natural images scikit-image ships that chose nothing: the guard's checks were set looking
#: at the other half of its images (sorted by name, the even ones); these are the odd ones.
CHECK_HALF = (
    "brick.png", "cell.png", "chessboard_GRAY.png", "clock_motion.png", "coins.png",
    "grass.png", "horse.png", "ihc.png", "microaneurysms.png", "motorcycle_left.png",
    "page.png", "retina.jpg", "text.png",
)  # fmt: skip


def _prepared(gray: np.ndarray, tmp_path: Path, size: int = 64) -> np.ndarray:
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), gray)
    return prepare_arrays(path, PreprocessConfig(size=size))[0][0]


def _spec(patient: int) -> ImageSpec:
    return ImageSpec("x", patient, 0, "MF"[patient % 2], "PA", (0,) * 14)


def test_model_free_checks_name_what_no_radiograph_is(tmp_path):
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(0, 255, 256), (256, 1)).astype(np.uint8)
    board = ((np.indices((256, 256)) // 32).sum(0) % 2 * 255).astype(np.uint8)
    cases = {
        "black": (np.zeros((256, 256), np.uint8), "blank"),
        "white": (np.full((256, 256), 255, np.uint8), "blank"),
        "noise": (rng.integers(0, 256, (256, 256)).astype(np.uint8), "noise"),
        "gradient": (ramp, "no structure"),
        "vignette": (np.ascontiguousarray(ramp.T), "no structure"),
        "chessboard": (board, "two-tone"),
    }
    for name, (gray, check) in cases.items():
        assert check in failed_checks(_prepared(gray, tmp_path)), name
    # Every demo phantom, frontal or lateral, of either site, passes them all.
    for patient in range(1, 31):
        site = SECOND_HOSPITAL if patient % 2 else NIH_LIKE
        frontal, _, _ = render(_spec(patient), 128, 0, 0, site)
        assert failed_checks(_prepared(frontal, tmp_path)) == []
        lateral = render_lateral(_spec(patient), 128, 0, 0, site)
        assert failed_checks(_prepared(lateral, tmp_path)) == []


def test_real_nih_films_pass_the_model_free_checks(nih_dir, tmp_path):
    files = sorted((nih_dir / "sample/images").glob("*.png"))
    assert len(files) == 77
    for size in (64, 224):
        config = PreprocessConfig(size=size)
        failed = {f.name: failed_checks(prepare_arrays(f, config)[0][0]) for f in files}
        assert not {k: v for k, v in failed.items() if v}, size


def test_mahalanobis_distance_matches_its_definition():
    rng = np.random.default_rng(1)
    train = rng.standard_normal((400, 6)) @ rng.standard_normal((6, 6))
    fit = fit_distance(train)
    x = rng.standard_normal((5, 6))
    d = x - fit.mean
    expected = np.sqrt(np.einsum("nd,de,ne->n", d, fit.precision, d))
    np.testing.assert_allclose(fit.distances(x), expected, rtol=1e-12)
    # The shrunk covariance is close to the sample one with 400 rows of 6 features.
    np.testing.assert_allclose(np.linalg.inv(fit.precision), np.cov(train.T), rtol=0.1, atol=0.05)


def test_the_distance_cut_refuses_the_share_it_is_set_to_of_unseen_images():
    """On features from one distribution, the cut (fitted on training, set on validation and
    out-of-fold training distances) refuses about ``false_flag`` of fresh draws."""
    rng = np.random.default_rng(3)
    mix = rng.standard_normal((16, 16))

    def draw(n):
        return rng.standard_normal((n, 16)) @ mix

    patients = np.repeat(np.arange(1000), 2)  # two images per patient, folds keep them
    images = np.zeros((2000, 32, 32), np.uint8)
    laterals = np.zeros((4, 32, 32), np.uint8)
    guard = fit_guard(images, draw(2000), patients, draw(300), laterals, 0.05)
    assert guard.record["train_images"] == 2000 and guard.record["val_images"] == 300
    fresh = guard.distance.distances(draw(20_000))
    assert 0.035 <= (fresh > guard.cut).mean() <= 0.07


@pytest.fixture()
def run(tiny_pipeline, monkeypatch):
    monkeypatch.chdir(tiny_pipeline)
    return CliRunner()


def _predict(run, files: list[Path], out: Path, *extra: str) -> pd.DataFrame:
    result = run.invoke(app, ["predict", *map(str, files), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, keep_default_na=False).set_index("path")


def _natural_images() -> list[Path]:
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        pytest.skip("scikit-image is not installed: its shipped natural images are the test's")
    folder = Path(spec.origin).parent / "data"
    return [folder / name for name in CHECK_HALF]


def test_predict_refuses_what_is_not_a_frontal_film_with_its_reason(run, tmp_path):
    rng = np.random.default_rng(0)
    test = pd.read_parquet("data/processed/test.parquet")
    film = cv2.imread(str(Path("data/raw/demo") / test.path[0]), cv2.IMREAD_GRAYSCALE)
    made = {
        "black.png": np.zeros((256, 256), np.uint8),
        "white.png": np.full((256, 256), 255, np.uint8),
        "noise.png": rng.integers(0, 256, (256, 256)).astype(np.uint8),
        "gradient.png": np.tile(np.linspace(0, 255, 256), (256, 1)).astype(np.uint8),
        "inverted.png": 255 - film,
        "rotated.png": np.ascontiguousarray(np.rot90(film)),
    }
    for name, pixels in made.items():
        cv2.imwrite(str(tmp_path / name), pixels)
    truth = pd.read_csv("data/raw/demo_external/valid.csv")
    laterals = [
        Path("data/raw/demo_external") / p.split("/", 1)[1]
        for p in truth.Path[truth["Frontal/Lateral"] == "Lateral"]
    ]
    assert len(laterals) >= 3
    natural = _natural_images()
    files = [tmp_path / n for n in made] + laterals + natural
    table = _predict(run, files, tmp_path / "pred.csv")
    reasons = table.guard_reason
    assert (table.guard_flagged == (reasons != "")).all()
    for name in ("black.png", "white.png", "noise.png", "gradient.png"):
        assert reasons[str(tmp_path / name)] == NOT_A_RADIOGRAPH, name
    assert reasons[str(tmp_path / "inverted.png")] == "inverted"
    assert reasons[str(tmp_path / "rotated.png")] == "rotated"
    assert (reasons[[str(p) for p in laterals]] == "lateral view").all()
    called = reasons[[str(p) for p in natural]]
    assert (called != "").all()  # every natural image refused ...
    config = Predictor.load("data/model/best.pt").preprocess
    for path in natural:  # ... as no radiograph wherever a model-free check fails
        if failed_checks(prepare_arrays(path, config)[0][0]):
            assert called[str(path)] == NOT_A_RADIOGRAPH, path.name
    assert (called == NOT_A_RADIOGRAPH).mean() >= 0.5, called.to_dict()
    # Refused files keep their probabilities but list no findings ...
    assert (table.findings == "").all()
    assert table.filter(like="p_").notna().all().all()
    # ... unless forced: then findings are those over the validation thresholds.
    forced = _predict(run, files, tmp_path / "forced.csv", "--force")
    thresholds = json.loads(Path("data/model/thresholds.json").read_text())["thresholds"]
    for path, row in forced.iterrows():
        over = {n for n, t in thresholds.items() if row[f"p_{n}"] >= t}
        assert set(filter(None, row.findings.split(";"))) == over, path


def test_guard_figures_are_the_prediction_tables_and_few_films_are_refused(run):
    guard = json.loads(Path("reports/evaluation.json").read_text())["guard"]
    assert guard["fitted_on"] == "train" and guard["cut_chosen_on"] == "val"
    for split in ("val", "test"):
        table = pd.read_parquet(f"data/predictions/{split}.parquet")
        flagged = table.guard_reason != ""
        assert guard[split]["images"] == len(table)
        assert guard[split]["flagged"] == int(flagged.sum())
        assert set(table.guard_reason[flagged]) <= set(guard[split]["by_reason"])
        # Demo films are frontal films like the training split's: none is "not a radiograph".
        assert guard[split]["by_reason"][NOT_A_RADIOGRAPH] == 0
    cut = Guard.load("data/model/guard.npz").cut
    val = pd.read_parquet("data/predictions/val.parquet")
    unlike = val.guard_reason == "unlike the training data"
    assert (unlike == (val.guard_distance > cut) & (val.guard_reason != "")).all()
    external = json.loads(Path("reports/external/demo_hospital.json").read_text())["guard"]
    assert external["images"] == json.loads(Path("reports/external/demo_hospital.json")
                                            .read_text())["images"]  # fmt: skip
    assert "unflagged_mean_auroc" in external


def test_guard_survives_save_and_load(run, tmp_path):
    guard = Guard.load("data/model/guard.npz")
    guard.save(tmp_path / "again.npz")
    again = Guard.load(tmp_path / "again.npz")
    assert again.cut == guard.cut and again.record == guard.record
    for a, b in ((guard.view.coef, again.view.coef), (guard.distance.mean, again.distance.mean)):
        np.testing.assert_array_equal(a, b)
    images = np.load("data/processed/test.npy")[:8]
    features = np.random.default_rng(0).standard_normal((8, guard.distance.mean.shape[0]))
    first, second = guard.check(images, features), again.check(images, features)
    np.testing.assert_allclose(first.distances, second.distances, rtol=1e-6)
    assert first.reasons.tolist() == second.reasons.tolist()
    # A guard of another model (other features) is refused, never applied.
    with pytest.raises(InputError, match="belongs to another model"):
        guard.check(images, features[:, :-1])
    # A damaged file is an error naming it, never a silent guard.
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InputError, match=r"bad\.npz: not a readable input guard"):
        Guard.load(tmp_path / "bad.npz")


def test_a_model_without_a_guard_predicts_with_a_warning(run, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for name in ("best.pt", "thresholds.json", "calibration.json"):
        shutil.copy(Path("data/model") / name, model)
    predictor = Predictor.load(model / "best.pt")
    assert predictor.guard is None
    assert any("no input guard" in w for w in predictor.version_warnings)
    test = pd.read_parquet("data/processed/test.parquet")
    file = Path("data/raw/demo") / test.path[0]
    result = run.invoke(app, ["predict", str(file), "--model", str(model / "best.pt"),
                              "--out", str(tmp_path / "p.csv")])  # fmt: skip
    assert result.exit_code == 0 and "no input guard" in result.output
    table = pd.read_csv(tmp_path / "p.csv")
    assert "guard_reason" not in table and table.filter(like="p_").notna().all().all()
    probs, verdict = predictor.assess(predictor.prepare(file))
    assert verdict is None and probs.shape == (1, 14)
    assert isinstance(predictor.prepare(file), Views)


def test_the_committed_demo_models_guard_refuses_under_2_percent_of_test_films():
    """The promise docs/guard.md makes of the committed model (``dvc repro`` rewrites the
    report, so a change that raises the rate fails here): under 2% of the demo's test films
    refused, none as "not a radiograph", the cut chosen on validation, never on test."""
    guard = json.loads((ROOT / "reports/evaluation.json").read_text())["guard"]
    assert guard["fitted_on"] == "train" and guard["cut_chosen_on"] == "val"
    assert guard["test"]["images"] > 500
    assert guard["test"]["flagged"] / guard["test"]["images"] < 0.02
    assert guard["test"]["by_reason"][NOT_A_RADIOGRAPH] == 0
