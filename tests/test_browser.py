"""In a real headless browser (Debian's chromium): the app, and `dvc plots show` offline."""

import subprocess
import sys

import pandas as pd
import pytest

from cxr.app import build_app
from cxr.inference import Predictor
from tests.conftest import ROOT
from tools.browser import CHROMIUM, DRIVER, analyse, chromium

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and DRIVER.is_file()),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)


@pytest.fixture(scope="module")
def app_url(tiny_pipeline):
    app = build_app(Predictor.load(tiny_pipeline / "data/model/best.pt"))
    app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield app.local_url
    finally:
        app.close()


def test_upload_in_the_browser_shows_findings_and_overlay(app_url, tiny_pipeline, tmp_path):
    from selenium.webdriver.common.by import By

    index = pd.read_parquet(tiny_pipeline / "data/processed/test.parquet")
    driver = chromium()
    try:
        table, _ = analyse(driver, app_url, tiny_pipeline / "data/raw/demo" / index.path[0])
        assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 14
        assert "Research tool, not a diagnosis" in driver.page_source
        shot = tmp_path / "app.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000
    finally:
        driver.quit()


def test_dvc_plots_render_with_no_network(tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    out = tmp_path / "plots"
    subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "show", "-o", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    page = (out / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "<script src=" not in page
    expected = page.count("vegaEmbed('#")
    assert expected >= 4  # training curves, ROC, PR, reliability
    # Every host name resolves to nothing: a CDN script could not load.
    driver = chromium("--host-resolver-rules=MAP * ~NOTFOUND")
    try:
        driver.get((out / "index.html").as_uri())
        count = "return document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length"
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(count) >= expected)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
