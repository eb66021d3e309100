"""Repository contracts: dvc.yaml declares what each stage imports; README and CI agree."""

import ast
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT, dvc_stages


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
    missing = []
    for name, stage in dvc_stages().items():
        module = re.match(r"python -m ([\w.]+)", stage["cmd"]).group(1)
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
    # An extra's package (e.g. [peers]: torchxrayvision) only inside a function, so a plain
    # install imports every module.
    extras = set().union(
        *(_requirement_names(v) for k, v in project["optional-dependencies"].items() if k != "dev")
    )
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
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    tops = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top in sys.stdlib_module_names or top in ("cxr", "stages", "tests", "tools"):
                        continue
                    if (path.parent / f"{top}.py").is_file():  # a script's sibling module
                        continue
                    dists = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                    lazy = folder in ("cxr", "stages") and node not in tree.body
                    if not dists & (declared | (extras if lazy else set())):
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


def _result_params(key: str) -> set[str]:
    """``section`` -> its result keys, key by key; a dotted ``value`` key is itself."""
    from cxr.config import SECTIONS
    from cxr.knobs import result_keys

    if "." in key:
        return {key}
    return {f"{key}.{k}" for k in result_keys(SECTIONS[key])}


def test_every_stage_declares_exactly_the_result_params_it_reads():
    # Key by key, as DVC's example-get-started: a speed knob (workers, device, an
    # inference batch size) is not a param, so changing it reruns nothing.
    for name, stage in dvc_stages().items():
        if name == "params":  # checks every key (tests/test_ranges.py)
            continue
        module = re.match(r"python -m ([\w.]+)", stage["cmd"]).group(1)
        read = _params_read(_module_file(module))
        assert read, f"{name}: reads no params?"
        expected = set().union(*(_result_params(k) for k in read))
        assert set(stage.get("params", [])) == expected, name


def test_speed_knobs_change_no_dvc_param_and_no_resume_fingerprint(tmp_path):
    from cxr.config import PreprocessConfig, TrainConfig
    from cxr.training.resume import fingerprint

    for name in ("train", "val"):
        (tmp_path / f"{name}.parquet").write_bytes(b"index")
        (tmp_path / f"{name}.npy").write_bytes(b"rows")
    base = fingerprint([TrainConfig(), PreprocessConfig()], tmp_path)
    faster = [TrainConfig(workers=4, device="cpu"), PreprocessConfig(workers=7)]
    assert fingerprint(faster, tmp_path) == base
    assert fingerprint([TrainConfig(lr=0.01), PreprocessConfig()], tmp_path) != base
    declared = {p for stage in dvc_stages().values() for p in stage.get("params", [])}
    speed = {"demo.workers", "preprocess.workers", "train.workers", "train.device"}
    speed |= {"evaluate.batch_size", "evaluate.device", "explain.batch_size", "explain.device"}
    speed |= {"external.workers", "external.batch_size", "external.device"}
    speed |= {"peers.batch_size", "peers.device"}
    assert not declared & speed


#: cxr's layers, lowest first: a module imports only from its own layer or below.
#: Training is on top: evaluate, explain and inference never need training code.
LAYERS = [
    {
        "errors", "findings", "atomic", "parallel", "storage", "cpu_kernels", "device",
        "environment", "splits", "processed", "knobs", "config", "numbers", "progress",
    },
    {"imaging", "nih", "distributed"},
    {"demo", "ingest", "preprocess", "batches", "models", "external", "peers", "guard"},
    {"evaluation"},
    {"explain"},
    {"report"},
    {"inference", "peer_inference"},
    {"app"},
    {"training"},
]  # fmt: skip


def _layer(part: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if part in names)


def test_cxr_layers_import_one_way():
    upward = []
    for path in sorted((ROOT / "cxr").rglob("*.py")):
        relative = path.relative_to(ROOT / "cxr")
        if relative.name == "__init__.py" and len(relative.parts) == 1:
            continue
        here = relative.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] != "cxr" or len(parts) < 2 or not _module_file(".".join(parts[:2])):
                    continue
                if _layer(parts[1]) > _layer(here):
                    upward.append(f"cxr/{relative} imports cxr.{parts[1]}")
    assert not upward, upward


def test_every_cxr_module_has_a_layer():
    tops = {p.name.removesuffix(".py") for p in (ROOT / "cxr").iterdir()}
    tops -= {"__init__", "__pycache__"}
    assert tops == set().union(*LAYERS)


def test_evaluate_and_explain_do_not_depend_on_training_code():
    dvc = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())
    for name in ("evaluate", "explain"):
        assert not [d for d in dvc["stages"][name]["deps"] if "training" in d], name
        imported = _project_imports(f"stages.{name}")
        assert not [p for p in imported if "training" in p.parts], name


def test_no_cxr_function_is_longer_than_a_screen():
    long = []
    for path in sorted((ROOT / "cxr").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert not long, long
