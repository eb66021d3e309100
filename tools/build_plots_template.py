"""Build ``.dvc/plots/offline.html``: DVC's plot page with Vega inlined, so it renders offline.

``dvc plots show`` writes HTML whose default template loads vega, vega-lite
and vega-embed from a CDN; on a machine without internet the page stays
blank. This script takes the three libraries' minified builds from the npm
registry (pinned versions, checked against pinned SHA-256 sums) and writes a
template that carries them inline; ``.dvc/config`` points
``plots.html_template`` at it. The page also keeps each chart's vega view in
``window.cxrCharts``, which the browser test reads. The three libraries are BSD-3-Clause
(University of Washington Interactive Data Lab); their licence is copied
into the template's header.

Usage: ``python -m tools.build_plots_template`` (needs the npm registry once).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
#: package -> (version, sha256 of the registry tarball, file inside it)
PACKAGES = {
    "vega": (
        "5.30.0",
        "96352a8d06d34f3263ff60404024a8e8acb9bcbcbb2e4a54e8df0bdd3ffa9a89",
        "package/build/vega.min.js",
    ),
    "vega-lite": (
        "5.21.0",
        "48e7a352a7d49811c3d1e15c400f5f9386b16e2affd1835939eb41b3f30b88ff",
        "package/build/vega-lite.min.js",
    ),
    "vega-embed": (
        "6.26.0",
        "74b6ffafdb4c5205a17b03ae53100070b656da3698f25fce24412f3ce3e42280",
        "package/build/vega-embed.min.js",
    ),
}
OUT = Path(__file__).resolve().parents[1] / ".dvc" / "plots" / "offline.html"

PAGE = """<!DOCTYPE html>
<!-- DVC plots page with vega {vega}, vega-lite {vega_lite} and vega-embed {vega_embed}
     inlined (built by tools/build_plots_template.py), so it renders with no network.
{licence}
-->
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <script>{scripts}</script>
    <script>
        // Keep every embedded chart's result (spec and vega view) for inspection:
        // the browser test reads the rendered scales through window.cxrCharts.
        window.cxrCharts = [];
        const embedChart = window.vegaEmbed;
        window.vegaEmbed = function (el, spec, options) {{
            const done = embedChart(el, spec, options);
            done.then(function (result) {{
                window.cxrCharts.push({{id: el, view: result.view}});
            }});
            return done;
        }};
    </script>
    <style>
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def fetch(name: str, version: str, sha256: str, member: str) -> tuple[str, str]:
    url = f"{REGISTRY}/{name}/-/{name}-{version}.tgz"
    data = urllib.request.urlopen(url, timeout=60).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{url}: sha256 {digest}, expected {sha256}")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        code = tar.extractfile(member).read().decode("utf-8")
        licence = tar.extractfile("package/LICENSE").read().decode("utf-8")
    if "</script" in code:
        raise SystemExit(f"{name}: its build contains '</script', cannot inline it")
    return code, licence


def main() -> None:
    scripts, licence = [], ""
    for name, (version, sha256, member) in PACKAGES.items():
        code, licence = fetch(name, version, sha256, member)
        scripts.append(code)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        PAGE.format(
            vega=PACKAGES["vega"][0],
            vega_lite=PACKAGES["vega-lite"][0],
            vega_embed=PACKAGES["vega-embed"][0],
            licence=licence.replace("--", "- -"),
            scripts="\n;\n".join(scripts),
        ),
        encoding="utf-8",
    )
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
