"""The detail array: a second memmap per split at a multiple of the array side, row for row
the same image with the same box and padding scaled, and augmented alike."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from cxr.batches import SplitArrays
from cxr.config import AugmentConfig, PreprocessConfig
from cxr.errors import InputError
from cxr.findings import FINDINGS
from cxr.imaging.geometry import GEOMETRY_COLUMNS, boxes_to_array
from cxr.imaging.resize import clahe, fit_square, fit_squares
from cxr.preprocess import preprocess
from cxr.training.augment import augment, augment_views
from cxr.views import Views, open_views
from tests.conftest import run_stages
from tests.test_preprocess import sample_with_bad_files  # noqa: F401 (a fixture)


def _shrunk(detail: np.ndarray, k: int) -> np.ndarray:
    """The detail array averaged over k x k blocks: what the array side sees of it."""
    size = (detail.shape[1] // k, detail.shape[0] // k)
    return cv2.resize(detail, size, interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(("shape", "keep_aspect"), [((1024, 700), True), ((500, 800), True)])
@pytest.mark.parametrize("k", [2, 3])
def test_detail_shows_the_image_with_box_and_padding_k_times(nih_dir, shape, keep_aspect, k):
    gray = cv2.imread(str(sorted((nih_dir / "sample" / "images").glob("*.png"))[0]), 0)
    gray = cv2.resize(gray, shape[::-1])
    enhance = lambda im: clahe(im, 2.0, 8)  # noqa: E731
    (small, big), geometry = fit_squares(gray, (64, 64 * k), keep_aspect, enhance)
    assert small.shape == (64, 64) and big.shape == (64 * k, 64 * k)
    # The first array is the one fit_square makes (the pipeline's bytes without detail)
    # while the detail side leaves CLAHE's working side (256 px) as it was.
    alone, same = fit_square(gray, 64, keep_aspect, enhance)
    if 64 * k <= 256:
        assert np.array_equal(small, alone)
    assert same == geometry
    # The image's box is exactly k times: padding black in both, content inside.
    x0, y0 = int(geometry.offset_x), int(geometry.offset_y)
    w, h = round(geometry.width * geometry.scale_x), round(geometry.height * geometry.scale_y)
    pad = np.ones((64, 64), bool)
    pad[y0 : y0 + h, x0 : x0 + w] = False
    assert (small[pad] == 0).all() and (big[np.kron(pad, np.ones((k, k), bool))] == 0).all()
    assert (big[y0 * k : (y0 + h) * k, x0 * k : (x0 + w) * k].mean()) > 50
    # Same pixels seen closer: averaged back over k x k blocks, the detail is the array.
    diff = np.abs(_shrunk(big, k).astype(int) - small.astype(int))
    assert diff.mean() < 0.5 and diff.max() <= 1


def test_a_bright_box_lands_k_times_further_in_the_detail():
    image = np.full((300, 200), 40, np.uint8)
    image[120:150, 50:90] = 250  # x 50..90, y 120..150 of a 200 x 300 image
    (_, big), geometry = fit_squares(image, (60, 120), keep_aspect=True)
    index = pd.DataFrame({"image_id": ["a"], "row": [0]})
    index[list(GEOMETRY_COLUMNS)] = [geometry.as_tuple()]
    box = pd.DataFrame({"image_id": ["a"], "finding": ["Mass"], "x": [50], "y": [120]})
    in_array = boxes_to_array(box.assign(w=40, h=30), index)  # the box in the 60-px array
    expect = in_array[["x0", "y0", "x1", "y1"]].to_numpy()[0]
    ys, xs = np.nonzero(big > 150)
    found = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]) / 2
    assert np.abs(found - expect).max() <= 0.5  # within one detail pixel


def test_detail_size_must_be_a_multiple_above_the_size():
    assert PreprocessConfig(size=64, detail_size=128).sizes == (64, 128)
    assert PreprocessConfig(size=64).sizes == (64,)
    for bad in (96, 64):
        with pytest.raises(InputError, match=rf"detail_size = {bad}; must be 0 or a multiple"):
            PreprocessConfig(size=64, detail_size=bad)
    with pytest.raises(ValueError, match="multiple of the first"):
        fit_squares(np.zeros((10, 10), np.uint8), (64, 96))


def test_preprocess_writes_detail_rows_for_exactly_the_kept_images(
    sample_with_bad_files,  # noqa: F811
    tmp_path,
):
    raw, meta, bad = sample_with_bad_files
    config = PreprocessConfig(size=32, detail_size=96, workers=2)
    metrics = preprocess(meta, raw, tmp_path, config)
    assert metrics["detail_size"] == 96 and metrics["rejected"] == len(bad)
    for split in ("train", "val", "test"):
        views, index = open_views(tmp_path, split, 2)
        array, detail = views.arrays
        assert views.sides == (32, 96)
        assert detail.shape == (len(index), 96, 96) and not set(index.image_id) & set(bad)
        for i in range(len(index)):  # row i of the detail is row i of the array
            diff = np.abs(_shrunk(np.asarray(detail[i]), 3).astype(int) - array[i].astype(int))
            assert diff.mean() < 0.5 and diff.max() <= 1, (split, i)
        data = SplitArrays(tmp_path, split, views=2)
        batch = data[[2, 0, 1]]
        assert batch.views[1].shape == (3, 1, 96, 96) and data.sides == (32, 96)
        assert torch.equal(batch.views[1][:, 0], torch.from_numpy(detail[[2, 0, 1]]))
        assert torch.equal(batch.images[:, 0], torch.from_numpy(array[[2, 0, 1]]))
        assert len(SplitArrays(tmp_path, split)[[0]].views) == 1  # only where asked for


def test_a_detail_array_that_disagrees_is_an_error_naming_it(tmp_path):
    np.save(tmp_path / "train.npy", np.zeros((4, 32, 32), np.uint8))
    index = pd.DataFrame({"row": range(4), "image_id": list("abcd")})
    index.assign(**dict.fromkeys(FINDINGS, 0)).to_parquet(tmp_path / "train.parquet")
    with pytest.raises(InputError, match=r"train_detail\.npy: missing, and the model looks"):
        SplitArrays(tmp_path, "train", views=2)
    assert open_views(tmp_path, "train")[0].detail is None  # a one-view model never looks
    np.save(tmp_path / "train_detail.npy", np.zeros((3, 64, 64), np.uint8))  # a row short
    with pytest.raises(InputError, match=r"train_detail\.npy holds 3 rows of 64 px, but"):
        SplitArrays(tmp_path, "train", views=2)
    np.save(tmp_path / "train_detail.npy", np.zeros((4, 48, 48), np.uint8))  # not a multiple
    with pytest.raises(InputError, match=r"holds 4 rows of 48 px"):
        open_views(tmp_path, "train", 2)


def _blobs(n: int, side: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Images with one bright disk each, at a known place (centres as a share of the side)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.3, 0.7, (n, 2))
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    images = np.stack(
        [((xx - cx * side) ** 2 + (yy - cy * side) ** 2 < (0.08 * side) ** 2) for cx, cy in centres]
    )
    return torch.from_numpy(images.astype(np.float32))[:, None], centres


def _centroids(x: torch.Tensor) -> np.ndarray:
    """Intensity-weighted centre of each image, as a share of its side."""
    w = x[:, 0].numpy()
    side = w.shape[-1]
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    total = w.sum(axis=(1, 2))
    return np.stack([(w * xx).sum((1, 2)) / total, (w * yy).sum((1, 2)) / total], 1) / side


def test_augmentation_moves_the_array_and_its_detail_alike():
    small, _ = _blobs(16, 32, seed=0)
    big, _ = _blobs(16, 128, seed=0)  # the same disks, 4 times closer
    config = AugmentConfig(rotation_deg=15.0, hflip=0.5, brightness=0.0, contrast=0.0)
    a, b = augment_views([small, big], config, torch.Generator().manual_seed(1))
    moved = np.abs(_centroids(a) - _centroids(_blobs(16, 32, seed=0)[0])).max()
    assert moved > 0.02  # the augmentation did move the disks
    assert np.abs(_centroids(a) - _centroids(b)).max() < 0.5 / 32  # within half a pixel
    # One view alone draws exactly what augment draws: training without detail is unchanged.
    alone = augment(small, AugmentConfig(), torch.Generator().manual_seed(2))
    both = augment_views([small, big], AugmentConfig(), torch.Generator().manual_seed(2))
    assert torch.equal(alone, both[0])


# --- the local path crops from the detail ----------------------------------------------


def test_the_local_path_cuts_the_same_box_from_the_detail_k_times_finer():
    from cxr.models.dualpath import LocalPath

    torch.manual_seed(0)
    local = LocalPath(16, True, threshold=0.7, min_share=0.4, size=24)
    x = torch.nn.functional.interpolate(torch.rand(2, 3, 8, 8), size=32, mode="bilinear")
    detail = torch.nn.functional.interpolate(x, scale_factor=4, mode="bilinear")  # 128 px
    features = torch.rand(2, 1024, 2, 2)
    from_x, boxes = local.crop(x, features)
    from_detail, same = local.crop(x, features, detail)
    assert torch.equal(boxes, same) and from_detail.shape == from_x.shape == (2, 3, 24, 24)
    # A smooth image looks alike through either array; fine texture only through the detail.
    assert (from_detail - from_x).abs().mean() < 0.02
    stripes = detail + 0.5 * (torch.arange(128) % 2).float()  # 1-px stripes: gone at 32 px
    textured, _ = local.crop(x, features, stripes)
    assert (textured - from_detail).abs().mean() > 0.1


DETAIL_PIPELINE = """
demo: {images: 120, size: 64, seed: 4, workers: 1, external_images: 0, third_images: 0}
external: {sets: []}
sources: {added: []}
ingest: {raw_dir: data/raw/demo, split: patient, val_fraction: 0.2, test_fraction: 0.25}
preprocess: {size: 32, detail_size: 64, workers: 1}
model: {arch: dualpath, weights: none, local_detail: true, local_size: 0}
train: {epochs: 1, batch_size: 16}
evaluate: {bootstrap: 0}
explain: {gallery_per_kind: 1, bootstrap: 0, control_maps: 1}
"""


@pytest.fixture(scope="module")
def detail_pipeline(tmp_path_factory):
    """Every stage run once with the dual path cropping its local path from the detail."""
    root = tmp_path_factory.mktemp("detail-pipeline")
    (root / "params.yaml").write_text(DETAIL_PIPELINE)
    stages = ("check-params", "demo", "ingest", "preprocess", "train", "evaluate", "explain")
    run_stages(root, *stages)
    return root


def test_every_way_in_feeds_the_detail_and_predict_equals_evaluate(detail_pipeline, tmp_path):

    from typer.testing import CliRunner

    from commands.cli import app
    from cxr.inference import Predictor

    root = detail_pipeline
    predictor = Predictor.load(root / "data/model/best.pt")
    assert predictor.model.input_views == 2 and predictor.record.model_config.local_detail
    index = pd.read_parquet(root / "data/processed/test.parquet")
    files = [str(root / "data/raw/demo" / p) for p in index.path]
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(
        app, ["predict", *files, "--out", str(out), "--model", str(root / "data/model/best.pt")]
    )
    assert result.exit_code == 0, result.output
    probs = [f"p_{n}" for n in FINDINGS]
    ours = pd.read_csv(out)[probs].to_numpy()
    stage = pd.read_parquet(root / "data/predictions/test.parquet")[probs].to_numpy()
    np.testing.assert_allclose(ours, stage, atol=1e-5, rtol=0)
    # Predict made the detail exactly as preprocess did, and the model does look at it.
    view = predictor.prepare(files[0])
    detail = np.load(root / "data/processed/test_detail.npy")
    assert np.array_equal(view.detail[0], detail[0]) and view.detail.shape == (1, 64, 64)
    images = np.load(root / "data/processed/test.npy")[:8]
    seen = predictor.forward().logits(Views(images, detail[:8]))
    blind = predictor.forward().logits(Views(images, 0 * detail[:8]))
    assert np.abs(seen - blind).max() > 1e-3
    # Explain ran its GradCAM through the model with its detail: every boxed case scored.
    cases = pd.read_csv(root / "plots/explain/localisation_cases.csv")
    boxes = pd.read_parquet(root / "data/interim/boxes.parquet")
    assert len(cases) == len(boxes[boxes.split == "test"].groupby(["image_id", "finding"]))
    assert cases.pointing.isin([0.0, 1.0]).all()
    # ... and the local path's map, fused in, scored on the same cases beside it.
    assert cases.fused_pointing.isin([0.0, 1.0]).all()
    gain = cases.fused_pointing - cases.pointing
    np.testing.assert_allclose(cases.fused_pointing_gain, gain)
    summary = json.loads((root / "reports/localisation.json").read_text())
    assert summary["fused"] and summary["mean"]["fused_pointing_gain"]["value"] == pytest.approx(
        np.mean([v["fused_pointing_gain"]["value"] for v in summary["per_class"].values()]),
        abs=1e-6,  # rounded to 6 places
    )
    assert "## With the local path's map" in (root / "reports/localisation.md").read_text()
    assert "fused_pointing_gain" in json.loads((root / "metrics/explain.json").read_text())


def test_the_app_serves_a_model_that_reads_the_detail(detail_pipeline):
    import cv2
    from gradio_client import Client, handle_file

    from cxr.app import build_app
    from cxr.inference import Predictor

    root = detail_pipeline
    predictor = Predictor.load(root / "data/model/best.pt")
    assert predictor.model.input_views == 2
    app = build_app(predictor)
    app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(app.local_url, verbose=False)
        index = pd.read_parquet(root / "data/processed/test.parquet")
        png = root / "data/raw/demo" / index.path[0]
        table, finding, overlay = client.predict(handle_file(str(png)), api_name="/analyse")
    finally:
        app.close()
    stage = pd.read_parquet(root / "data/predictions/test.parquet").iloc[0]
    top = max(predictor.classes, key=lambda c: stage[f"p_{c}"])
    assert finding == top and f"{stage[f'p_{top}']:.3f}" in table  # the same probabilities
    image = cv2.imread(overlay)
    assert image is not None and image.shape[2] == 3  # GradCAM through the detail model


def test_a_one_view_model_beside_a_detail_array_gets_the_contrast_preprocess_gave(
    nih_dir, tmp_path
):
    """Preprocess enhances once, at the largest side it writes; a model that reads only the
    first array must see that array, not one enhanced at a smaller working side."""
    from cxr.config import ModelConfig
    from cxr.evaluation.calibration import Calibration
    from cxr.inference import Predictor
    from cxr.models.registry import build_model
    from cxr.preprocess import prepare_arrays

    path = sorted((nih_dir / "sample" / "images").glob("*.png"))[0]
    config = PreprocessConfig(size=64, detail_size=512)  # CLAHE at 512 px, not 256
    written, _ = prepare_arrays(path, config)
    model = build_model(ModelConfig(arch="densenet121", weights="none"), num_classes=14)
    predictor = Predictor(model, config, list(FINDINGS), Calibration.identity(14),
                          np.full(14, 0.5), torch.device("cpu"))  # fmt: skip
    views = predictor.prepare(path)
    assert len(views.arrays) == 1 and np.array_equal(views.images[0], written[0])
    alone, _ = prepare_arrays(path, PreprocessConfig(size=64))  # enhanced at 256 px
    assert not np.array_equal(alone[0], written[0])  # so the side matters
