"""Repository contracts: dvc.yaml declares what each stage imports; README and CI agree."""

import ast
import re

import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT, dvc_stages
from tools.dvc_yaml import (
    generate,
    holds_no_code,
    imported_files,
    module_file,
    params_read,
    stage_params,
)
from tools.module_map import ARCHITECTURE, module_lines
from tools.module_map import generate as module_map


def test_dvc_yaml_deps_and_params_are_what_the_code_says():
    """Every stage's code deps (its import closure) and params (the result keys it reads)
    are written by ``python -m tools.dvc_yaml``, never by hand: the committed file is the
    generated one."""
    current = (ROOT / "dvc.yaml").read_text()
    assert generate(current) == current, "run `python -m tools.dvc_yaml` and commit dvc.yaml"


def test_the_module_map_names_every_module_with_its_docstring():
    """docs/architecture.md's module map is ``python -m tools.module_map``'s: every file of
    ``cxr/`` on it once, each with its docstring's first sentence."""
    current = ARCHITECTURE.read_text()
    assert module_map(current) == current, "run `python -m tools.module_map` and commit it"
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "cxr").rglob("*.py")}
    named = [line.split("`")[1] for line in module_lines() if line]
    assert sorted(named) == sorted(files)


def test_every_stage_declares_the_code_it_imports():
    missing = []
    for name, stage in dvc_stages().items():
        module = re.match(r"python -m ([\w.]+)", stage["cmd"]).group(1)
        deps = [ROOT / d for d in stage["deps"] if not d.startswith("$")]
        for path in imported_files(module):
            if not holds_no_code(path) and not any(path == d or d in path.parents for d in deps):
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
        ("commands", runtime),
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
                    if top in sys.stdlib_module_names or top in (
                        "cxr",
                        "stages",
                        "commands",
                        "tests",
                        "tools",
                    ):
                        continue
                    if (path.parent / f"{top}.py").is_file():  # a script's sibling module
                        continue
                    dists = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                    lazy = folder in ("cxr", "stages", "commands") and node not in tree.body
                    if not dists & (declared | (extras if lazy else set())):
                        undeclared.append(f"{path.relative_to(ROOT)}: {top}")
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_stage_declares_exactly_the_result_params_it_reads():
    # Key by key, as DVC's example-get-started: a speed knob (workers, device, an
    # inference batch size) is not a param, so changing it reruns nothing.
    for name, stage in dvc_stages().items():
        if name == "params":  # checks every key (tests/test_ranges.py)
            continue
        module = re.match(r"python -m ([\w.]+)", stage["cmd"]).group(1)
        assert params_read(module_file(module)), f"{name}: reads no params?"
        assert stage.get("params", []) == stage_params(module), name


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
        "views",
    },
    {"imaging", "nih", "distributed"},
    {"demo", "ingest", "preprocess", "batches", "models", "guard"},
    {"evaluation"},
    {"explain"},
    {"report"},
    {"inference"},
    {"external"},  # other data sets: formats, readers, scoring, reports, the demo hospital
    {"export"},  # a trained model as a self-contained folder: safetensors, ONNX, model card
    {"peers"},  # published models: reading, scoring, reporting, inference, all in one package
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
                if parts[0] != "cxr" or len(parts) < 2 or not module_file(".".join(parts[:2])):
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
        imported = imported_files(f"stages.{name}")
        assert not [p for p in imported if "training" in p.parts], name


def _functions_over(folder: str, limit: int) -> list[str]:
    long = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    return long


def test_no_cxr_function_is_longer_than_a_screen():
    assert not _functions_over("cxr", 60)


def test_stages_are_thin():
    """A stage reads params, calls the library and writes: no function over 40 lines, no
    file over 100."""
    assert not _functions_over("stages", 40)
    long = [p.name for p in (ROOT / "stages").glob("*.py") if len(p.read_text().splitlines()) > 100]
    assert not long, long


def test_the_dual_paths_detail_lives_in_a_few_places():
    """Everything between preprocess and the model carries ``cxr.views.Views``; only the
    views module, the config, the dual path, preprocess (which writes the detail array)
    and ingest (whose rejections have a detail column, another meaning) name it."""
    naming = sorted(
        str(p.relative_to(ROOT))
        for folder in ("cxr", "stages")
        for p in (ROOT / folder).rglob("*.py")
        if "detail" in p.read_text()
    )
    assert naming == [
        "cxr/config.py", "cxr/ingest.py", "cxr/models/dualpath.py", "cxr/preprocess.py",
        "cxr/views.py",
    ]  # fmt: skip


def test_the_readme_layout_and_the_architecture_name_every_module():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    layers = (ROOT / "docs/architecture.md").read_text()
    layers = layers[layers.index("## Layers") : layers.index("## Stages and contracts")]
    for top in sorted(set().union(*LAYERS)):
        name = f"{top}/" if (ROOT / "cxr" / top).is_dir() else f"{top}.py"
        assert re.search(rf"(^|[ ,]){re.escape(name)}", layout, re.M), f"README layout: {name}"
        assert re.search(rf"\b{top}\b", layers), f"docs/architecture.md layers: {top}"
