"""Repository contracts: dvc.yaml declares what each stage imports; README and CI agree."""

import ast
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT


def _module_file(name: str) -> Path | None:
    path = ROOT / Path(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _project_imports(module: str) -> set[Path]:
    """Every file of cxr/ and stages/ that ``module`` imports, transitively."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        path = _module_file(todo.pop())
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
                if name.split(".")[0] in ("cxr", "stages"):
                    todo.append(name)
                    parts = name.split(".")  # parent packages run their __init__ too
                    todo += [".".join(parts[:i]) for i in range(1, len(parts))]
    return seen


def _holds_no_code(path: Path) -> bool:
    """A package marker with only a docstring and constants (e.g. ``__version__``)."""
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(
        isinstance(n, ast.Expr | ast.Assign) and isinstance(n.value, ast.Constant) for n in body
    )


def test_every_stage_declares_the_code_it_imports():
    dvc = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())
    missing = []
    for name, stage in dvc["stages"].items():
        module = re.fullmatch(r"python -m ([\w.]+)", stage["cmd"]).group(1)
        deps = [ROOT / d for d in stage["deps"] if not d.startswith("$")]
        for path in _project_imports(module):
            if not _holds_no_code(path) and not any(path == d or d in path.parents for d in deps):
                missing.append(f"{name}: {path.relative_to(ROOT)}")
    assert not missing, f"imported but not declared as deps in dvc.yaml: {missing}"


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert "dvc repro" in commands[0] and "pytest" in commands[1]
    # Both install the locked versions, which made the committed results.
    assert all("pip install -c requirements-lock.txt " in c for c in commands)
    assert commands[1].strip() in (ROOT / ".ci" / "run").read_text()


def _requirement_names(specs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", s, maxsplit=1)[0].lower().replace("_", "-") for s in specs}


def test_every_third_party_import_is_a_declared_dependency():
    """A clean install gets only what pyproject declares; an undeclared import fails in CI."""
    import sys

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    dev = runtime | _requirement_names(project["optional-dependencies"]["dev"])
    owners = packages_distributions()
    undeclared = []
    folders = (
        ("cxr", runtime),
        ("stages", runtime),
        ("bench", runtime),
        ("tests", dev),
        ("tools", dev),
    )
    for folder, declared in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    tops = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top in sys.stdlib_module_names or top in ("cxr", "stages", "tests", "tools"):
                        continue
                    dists = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                    if not dists & declared:
                        undeclared.append(f"{path.relative_to(ROOT)}: {top}")
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def _params_read(path: Path) -> set[str]:
    """Params keys a stage module reads: ``section(p, "name", ...)``, ``value(p, "a.b", ...)``."""
    keys = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("section", "value")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
        ):
            keys.add(node.args[1].value)
    return keys


def test_every_stage_declares_the_params_it_reads():
    dvc = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())
    missing = []
    for name, stage in dvc["stages"].items():
        module = re.fullmatch(r"python -m ([\w.]+)", stage["cmd"]).group(1)
        declared = set(stage.get("params", []))
        read = _params_read(_module_file(module))
        assert read, f"{name}: reads no params?"
        for key in read:
            parts = key.split(".")
            if not any(".".join(parts[:i]) in declared for i in range(1, len(parts) + 1)):
                missing.append(f"{name}: {key}")
    assert not missing, f"read but not declared as params in dvc.yaml: {missing}"
