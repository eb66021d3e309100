"""The Gradio app through gradio_client: upload, findings table, overlay, error messages."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from gradio_client import Client, handle_file

from cxr.app import build_app, findings_html
from cxr.inference import Predictor


@pytest.fixture(scope="module")
def served(tiny_pipeline):
    predictor = Predictor.load(tiny_pipeline / "data/model/best.pt")
    app = build_app(predictor, max_upload_mb=0.05)
    app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield Client(app.local_url, verbose=False), predictor
    finally:
        app.close()


def test_findings_table_sorts_and_marks_thresholds():
    page = findings_html(["A", "B", "C"], np.array([0.2, 0.9, 0.5]), np.array([0.1, 0.95, 0.6]))
    assert page.index(">B") < page.index(">C") < page.index(">A")  # by probability
    assert page.count("&#9679;") == 2  # A is over its threshold (and the legend)
    assert 'title="threshold 0.950"' in page


def test_upload_gives_findings_and_an_overlay(served, tiny_pipeline):
    client, predictor = served
    index = pd.read_parquet(tiny_pipeline / "data/processed/test.parquet")
    png = tiny_pipeline / "data/raw/demo" / index.path[0]
    table, finding, overlay = client.predict(handle_file(str(png)), api_name="/analyse")
    stage = pd.read_parquet(tiny_pipeline / "data/predictions/test.parquet").iloc[0]
    top = max(predictor.classes, key=lambda c: stage[f"p_{c}"])
    assert finding == top
    assert f"{stage[f'p_{top}']:.3f}" in table
    assert all(c in table for c in predictor.classes)
    import cv2

    image = cv2.imread(overlay)
    assert image is not None and image.shape[2] == 3
    # Another finding's overlay on request.
    other = client.predict(predictor.classes[0], api_name="/explain")
    assert other is None or Path(other).is_file()


def test_a_black_upload_is_refused_above_the_findings(served, tmp_path):
    client, predictor = served
    black = tmp_path / "black.png"
    cv2.imwrite(str(black), np.zeros((128, 128), np.uint8))
    table, _, _ = client.predict(handle_file(str(black)), api_name="/analyse")
    warning = table.index("I cannot judge this image: not a radiograph")
    assert warning < table.index("<table")  # above the findings
    assert "&#9679;" not in table.split("<tbody>")[1].split("</tbody>")[0]  # none called
    assert all(c in table for c in predictor.classes)  # probabilities still shown


def test_a_non_image_gets_a_message_not_a_traceback(served, tmp_path):
    client, _ = served
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    with pytest.raises(Exception, match="not a readable radiograph"):
        client.predict(handle_file(str(bad)), api_name="/analyse")


def test_an_oversized_upload_is_refused(served, tiny_pipeline, tmp_path):
    client, _ = served
    index = pd.read_parquet(tiny_pipeline / "data/processed/test.parquet")
    big = tmp_path / "big.png"
    shutil.copy(tiny_pipeline / "data/raw/demo" / index.path[0], big)
    with big.open("ab") as f:
        f.write(b"\0" * 100_000)  # over the 0.05 MB cap of the fixture
    with pytest.raises(Exception, match=r"(?i)(limit|size|large)"):
        client.predict(handle_file(str(big)), api_name="/analyse")
