"""Write docs/architecture.md's module map from the modules' own docstrings.

Every file of ``cxr/`` gets one line: its path and the first sentence of its
docstring, grouped by package. The map sits between two marker comments in
docs/architecture.md; everything else in that file is written by hand.

    python -m tools.module_map           # rewrite the map
    python -m tools.module_map --check   # exit 1 if it is not current

``tests/test_repository.py`` runs the check, so a module added, moved or
renamed fails the suite until the map names it, and a docstring changed
changes the map.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- module map: written by `python -m tools.module_map`; do not edit -->"
END = "<!-- end of module map -->"


def first_sentence(docstring: str) -> str:
    """The docstring's first paragraph up to its first full stop, on one line."""
    paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    match = re.search(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bet al)\.(\s|$)", paragraph)
    return paragraph[: match.start() + 1] if match else paragraph


def module_lines(package: Path = ROOT / "cxr") -> list[str]:
    """One markdown line per module file, packages first by their ``__init__``."""
    lines: list[str] = []
    packages = sorted(p.parent for p in package.rglob("__init__.py") if p.parent != package)
    for folder in [package, *packages]:
        files = sorted(folder.glob("*.py"), key=lambda p: (p.name != "__init__.py", p.name))
        if folder != package:
            lines.append("")
        for file in files:
            doc = ast.get_docstring(ast.parse(file.read_text())) or ""
            if not doc:
                name = file.relative_to(ROOT)
                raise SystemExit(f"{name} has no module docstring: write its job in one")
            lines.append(f"- `{file.relative_to(ROOT)}`: {first_sentence(doc)}")
    return lines


def generate(text: str) -> str:
    """``text`` (docs/architecture.md) with the map between its markers rewritten."""
    if BEGIN not in text or END not in text:
        name = ARCHITECTURE.relative_to(ROOT)
        raise SystemExit(f"{name} lacks the module map's markers:\n{BEGIN}\n{END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return "\n".join([head + BEGIN, *module_lines(), END]) + tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the map is not current")
    current = ARCHITECTURE.read_text()
    wanted = generate(current)
    if parser.parse_args().check:
        if wanted != current:
            sys.exit("docs/architecture.md's module map is stale: run `python -m tools.module_map`")
        return
    ARCHITECTURE.write_text(wanted)


if __name__ == "__main__":
    main()
