"""Write each stage's code deps and params in dvc.yaml from the code itself.

A stage's code deps are the files of ``cxr/`` and ``stages/`` its module
imports, transitively (a package folder where it imports every file of it);
its params are the result keys (``cxr.knobs.result_keys``) of every section
and key it reads through ``section(params, "name", ...)`` and
``value(params, "a.b", ...)``, key by key as DVC's example-get-started lists
them (speed knobs left out, so changing one reruns nothing). Everything else
in dvc.yaml (commands, data deps, outs, comments) is written by hand and kept
as it is. The ``params`` stage checks whole sections and is left alone.

    python -m tools.dvc_yaml           # rewrite dvc.yaml
    python -m tools.dvc_yaml --check   # exit 1, naming the stages, if it is not current

``tests/test_repository.py`` runs the check, so a deps list a person edited, or
an import a person added, fails the suite until this tool has written it.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
DVC_YAML = ROOT / "dvc.yaml"
CODE = ("cxr", "stages")
#: Why a dep is there, where its path does not say it.
COMMENTS = {"stages/__init__.py": "caps the CPU kernels (cxr/cpu_kernels.py)"}


def module_file(name: str) -> Path | None:
    """The file that ``import name`` runs, or None outside the project."""
    path = ROOT / Path(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported_files(module: str) -> set[Path]:
    """Every file of ``cxr/`` and ``stages/`` that importing ``module`` runs."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        path = module_file(todo.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.split(".")[0] in CODE:
                    parts = name.split(".")  # parent packages run their __init__ too
                    todo += [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return seen


def holds_no_code(path: Path) -> bool:
    """A package marker with only a docstring and constants (e.g. ``__version__``)."""
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(
        isinstance(n, ast.Expr | ast.Assign) and isinstance(n.value, ast.Constant) for n in body
    )


def _code_files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*.py") if not holds_no_code(p)}


def code_deps(module: str) -> list[str]:
    """``module``'s code deps: its own file, the other ``stages/`` files, then ``cxr/``'s,
    a package as its folder where every file of it is imported."""
    files = {p for p in imported_files(module) if not holds_no_code(p)}
    packages = sorted(
        {p.parent for p in files if p.parent.parent != ROOT and (p.parent / "__init__.py").exists()}
    )
    folders = [d for d in packages if _code_files(d) <= files]
    folders = [d for d in folders if not any(o in d.parents for o in folders)]
    listed = {p for p in files if not any(d in p.parents for d in folders)} | set(folders)
    own = module_file(module)
    names = sorted(str(p.relative_to(ROOT)) for p in listed if p != own)
    return [str(own.relative_to(ROOT)), *sorted(names, key=_stages_first)]


def _stages_first(name: str) -> tuple[bool, str]:
    return not name.startswith("stages/"), name


def params_read(path: Path) -> list[str]:
    """Sections and keys a stage module reads, in the order it reads them."""
    keys: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("section", "value")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value not in keys
        ):
            keys.append(node.args[1].value)
    return keys


def result_params(key: str) -> list[str]:
    """A section's result keys, key by key; a dotted key is itself."""
    from cxr.config import SECTIONS
    from cxr.knobs import result_keys

    if "." in key:
        return [key]
    return [f"{key}.{k}" for k in result_keys(SECTIONS[key])]


def stage_params(module: str) -> list[str]:
    out: list[str] = []
    for key in params_read(module_file(module)):
        out += [k for k in result_params(key) if k not in out]
    return out


def _is_code(dep: str) -> bool:
    return dep.split("/")[0] in CODE


ITEM = re.compile(r"^(?P<indent>\s*)- (?P<value>[^#]*?)(?P<comment>\s+#.*)?$")


def _block(lines: list[str], start: int) -> int:
    """The end of the list that starts after ``lines[start]`` (a ``key:`` line)."""
    end = start + 1
    while end < len(lines) and ITEM.match(lines[end]):
        end += 1
    return end


def _rewritten(items: list[str], generated: list[str], keep_data: bool) -> list[str]:
    """A list's item lines: its data items as they were (``keep_data``), then the
    generated ones, each with the comment it had (or its :data:`COMMENTS` entry)."""
    parsed = [ITEM.match(line) for line in items]
    indent = parsed[0]["indent"] if parsed else "      "
    said = {m["value"]: m["comment"] for m in parsed if m["comment"]}
    kept = [
        line
        for line, m in zip(items, parsed, strict=True)
        if keep_data and not _is_code(m["value"])
    ]
    made = []
    for value in generated:
        comment = said.get(value) or (f"   # {COMMENTS[value]}" if value in COMMENTS else "")
        made.append(f"{indent}- {value}{comment}")
    return kept + made


def generate(text: str) -> str:
    """dvc.yaml ``text`` with every stage's code deps and params written from the code;
    every other line stays as it is."""
    stages = YAML(typ="safe").load(text)["stages"]
    lines = text.splitlines()
    out, i, stage = [], 0, None
    while i < len(lines):
        line = lines[i]
        named = re.match(r"^  (\w+):\s*(#.*)?$", line)
        if named:
            stage = named[1]
        key = re.match(r"^\s+(deps|params):", line)
        if not key or stage is None:
            out.append(line)
            i += 1
            continue
        body = stages[stage].get("do", stages[stage])
        module = re.match(r"python -m ([\w.]+)", body["cmd"]).group(1)
        end = _block(lines, i)
        out.append(line)
        if key[1] == "deps":
            out += _rewritten(lines[i + 1 : end], code_deps(module), keep_data=True)
        elif stage == "params":  # it checks whole sections, speed knobs too
            out += lines[i + 1 : end]
        else:
            out += _rewritten(lines[i + 1 : end], stage_params(module), keep_data=False)
        i = end
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args()
    current = DVC_YAML.read_text()
    generated = generate(current)
    if args.check:
        if generated != current:
            print(f"{DVC_YAML.name} is not what `python -m tools.dvc_yaml` writes", file=sys.stderr)
            return 1
        return 0
    DVC_YAML.write_text(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
