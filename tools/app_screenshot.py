"""Write ``docs/app.png``: ``cxr serve`` on the committed model, a demo test image analysed.

Usage: ``python -m tools.app_screenshot [--row 12]`` after ``dvc repro`` (needs chromium).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from cxr.app import build_app
from cxr.inference import Predictor
from tools.browser import analyse, chromium

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row", type=int, default=12, help="row of the demo test split")
    args = parser.parse_args()
    index = pd.read_parquet(ROOT / "data/processed/test.parquet", columns=["path"])
    image = ROOT / "data/raw/demo" / index.path[args.row]
    app = build_app(Predictor.load(ROOT / "data/model/best.pt"))
    app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    driver = chromium("--window-size=1400,1750")  # tall enough for the overlay
    try:
        analyse(driver, app.local_url, image)
        driver.save_screenshot(str(ROOT / "docs" / "app.png"))
    finally:
        driver.quit()
        app.close()
    print(f"wrote {ROOT / 'docs' / 'app.png'} ({image.name})")


if __name__ == "__main__":
    main()
