"""In a real headless browser (Debian's chromium): the app, and `dvc plots show` offline."""

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from cxr.app import build_app
from cxr.findings import FINDINGS
from cxr.inference import Predictor
from tests.conftest import ROOT
from tools.browser import CHROMIUM, DRIVER, analyse, chromium, render_plots

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


def _specs(page: str) -> dict[str, dict]:
    """The vega-lite spec of every chart on a ``dvc plots show`` page, by chart id."""
    found = re.finditer(r"var spec = (\{.*?\});\n\s*vegaEmbed\('#([^']+)'", page)
    return {m.group(2): json.loads(m.group(1)) for m in found}


def test_dvc_plots_render_with_no_network_and_are_readable(tmp_path):
    out = tmp_path / "plots"
    subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "show", "-o", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    page = (out / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "<script src=" not in page
    specs = _specs(page)
    assert len(specs) == page.count("vegaEmbed('#") >= 7  # 3 training, per-class AUROC, 3 test
    # Every PR curve is a curve: interpolated precision falls with recall somewhere, unless
    # the class is separated perfectly (AUPRC 1: precision 1 at every recall).
    pr = next(v for k, v in specs.items() if k.startswith("Precision-recall"))
    lines = pd.DataFrame(pr["data"]["values"]).astype({"dvc_inferred_y_value": float})
    spread = lines.groupby("field").dvc_inferred_y_value.agg(lambda v: v.max() - v.min())
    auprc = json.loads((ROOT / "reports/evaluation.json").read_text())["test"]["auprc"]
    flat = [n for n in FINDINGS if spread[n] <= 0.01 and auprc[n] < 0.999]
    assert len(spread) == 14 and not flat, {n: (spread[n], auprc[n]) for n in flat}
    # Every host name resolves to nothing: a CDN script could not load.
    driver = chromium("--host-resolver-rules=MAP * ~NOTFOUND")
    try:
        charts = {c["id"].lstrip("#"): c for c in render_plots(driver, out / "index.html")}
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
    assert set(charts) == set(specs)
    # Each finding in its own colour on every per-class chart, as drawn.
    for name in ("Validation_AUROC_per_finding", "ROC_curves", "Precision-recall", "Reliability"):
        chart = next(c for k, c in charts.items() if k.startswith(name))
        colours = chart["colours"]
        assert set(FINDINGS) <= set(colours), (name, sorted(colours))
        assert len(set(colours.values())) == len(colours), (name, colours)
    drawn = next(c for k, c in charts.items() if k.startswith("Precision-recall"))["y"]
    assert drawn[1] - drawn[0] > 0.1, f"the PR chart's y axis spans only {drawn}"
