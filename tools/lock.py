"""Regenerate ``requirements-lock.txt``: exact versions of everything ``pip install -e '.[dev]'``
resolves, with torch and torchvision at the releases the build machines carry.

The lock is a pip constraints file (``name==version`` per line). The README's commands and
``.ci/run`` install through it with plain pip, ``pip install -c requirements-lock.txt -e
'.[dev]'``, so a fresh machine gets the versions that made the committed results; pyproject
keeps its ranges for people who install cxr as a library. Resolution is pip's own
(``pip install --dry-run --ignore-installed --report``): nothing is installed, and no tool
beyond pip is needed. Why this format and not pip-tools, uv or pylock.toml:
docs/environment.md.

Usage: ``python -m tools.lock`` (needs the package index; takes a minute), then review the
diff, install through the new lock, rerun ``dvc repro`` and commit lock, ``dvc.lock`` and
``metrics/`` together.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
from datetime import date
from importlib.metadata import version
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = ROOT / "requirements-lock.txt"
#: The releases on the offline build machines' disk (and pip's cap there).
PINNED = ("torch==2.14.1", "torchvision==0.29.1")


def resolve() -> tuple[dict[str, str], dict]:
    """``{name: version}`` of the whole install set, and the environment pip resolved for."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                "-e",
                f"{ROOT}[dev]",
                *PINNED,
            ],
            check=True,
        )
        data = json.loads(report.read_text())
    pins = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in data["install"]
        if not item["download_info"].get("dir_info", {}).get("editable")  # cxr itself
    }
    return dict(sorted(pins.items())), data["environment"]


def render(pins: dict[str, str], environment: dict, pip_version: str) -> str:
    header = [
        "# Exact versions of cxr's whole install set (pyproject.toml with the [dev] extra).",
        "# A pip constraints file: pip install -c requirements-lock.txt -e '.[dev]'",
        "# Regenerate with: python -m tools.lock (docs/environment.md says when and how).",
        f"# Resolved on {date.today().isoformat()} by pip {pip_version} for"
        f" {environment['implementation_name']} {environment['python_version']}"
        f" on {environment['sys_platform']} {environment['platform_machine']}.",
    ]
    return "\n".join(header + [f"{name}=={version}" for name, version in pins.items()]) + "\n"


def main() -> None:
    pip_version = version("pip")
    pins, environment = resolve()
    missing = [p for p in PINNED if canonicalize_name(p.split("==")[0]) not in pins]
    if missing:
        raise SystemExit(f"error: the resolution lacks {missing}")
    LOCK_FILE.write_text(render(pins, environment, pip_version))
    print(
        f"{LOCK_FILE.name}: {len(pins)} packages for Python {platform.python_version()}"
        f" on {environment['sys_platform']} {environment['platform_machine']}"
    )


if __name__ == "__main__":
    main()
