"""Write ``docs/plots.png``: the committed ``dvc plots show`` page, rendered offline.

Usage: ``python -m tools.plots_screenshot`` after ``dvc repro`` (needs chromium).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tools.browser import chromium, render_plots

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plots"
        subprocess.run(
            [sys.executable, "-m", "dvc", "plots", "show", "-o", str(out)], cwd=ROOT, check=True
        )
        driver = chromium("--window-size=1600,1480", "--host-resolver-rules=MAP * ~NOTFOUND")
        try:
            render_plots(driver, out / "index.html")
            driver.save_screenshot(str(ROOT / "docs" / "plots.png"))
        finally:
            driver.quit()
    print(f"wrote {ROOT / 'docs' / 'plots.png'}")


if __name__ == "__main__":
    main()
