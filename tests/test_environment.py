"""Every trained model records its environment; predict and serve say when outputs may move;
the stages cap the CPU kernels so that AVX-512 and AVX2 machines compute the same bits."""

import json
import os
import platform
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from commands.cli import app
from cxr.cpu_kernels import (
    BF16_FLAGS,
    DATA_CAPS,
    LEVELS,
    TORCH_CAPS,
    cap_cpu_kernels,
    caps,
    cpu_flags,
)
from cxr.device import compute_dtype, cpu_has_bf16, precision_name
from cxr.environment import OUTPUT_CHANGING, PACKAGES, describe, output_changing_differences
from cxr.models import checkpoint
from tests.conftest import ROOT

x86 = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="the caps are for x86-64"
)


def test_description_names_the_machine_and_the_versions_installed():
    env = describe(torch.device("cpu"))
    assert env["python"] == platform.python_version()
    assert env["cpu"] and env["os"] and env["torch_threads"] == torch.get_num_threads()
    assert env["gpu"] is None and env["cudnn"] is None
    assert set(env["packages"]) == set(PACKAGES)
    for name in ("torch", "numpy", "pandas", "scikit-learn", "grad-cam", "timm", "dvc"):
        assert env["packages"][name] == version(name)
    json.dumps(env)  # built-in types only: metrics/env.json and weights_only checkpoints


def test_differences_name_only_the_output_changing_packages():
    here = describe()
    assert output_changing_differences(here) == []
    assert output_changing_differences(None) == []
    old = json.loads(json.dumps(here))
    old["packages"] |= {"torch": "2.0.0", "opencv": "4.9.0.80", "pandas": "1.0.0"}
    lines = output_changing_differences(old)
    assert [line.split()[0] for line in lines] == ["torch", "opencv"]
    assert lines[0].startswith(
        f"torch 2.0.0 made this model; this machine has torch {version('torch')}"
    )
    assert set(OUTPUT_CHANGING) == {"torch", "torchvision", "opencv", "numpy"}


def test_trained_model_carries_its_environment_into_metrics_and_model_card(tiny_pipeline):
    info = checkpoint.load(tiny_pipeline / "data/model/best.pt")
    env = json.loads((tiny_pipeline / "metrics/env.json").read_text())
    assert info["environment"] == env
    assert env["packages"]["torch"] == version("torch")
    card = (tiny_pipeline / "reports/model_card.md").read_text()
    section = card.split("## Training environment")[1].split("##")[0]
    assert f"Python {env['python']}" in section and env["cpu"] in section
    assert f"torch {env['packages']['torch']}" in section
    assert f"opencv {env['packages']['opencv']}" in section


def test_predict_warns_naming_the_package_that_differs(tiny_pipeline, tmp_path, monkeypatch):
    model = tmp_path / "model"
    shutil.copytree(tiny_pipeline / "data/model", model)
    payload = torch.load(model / "best.pt", weights_only=True)
    payload["environment"]["packages"]["numpy"] = "1.26.0"
    checkpoint.save(model / "best.pt", payload)
    monkeypatch.chdir(tiny_pipeline)
    image = next(Path("data/raw/demo/images").iterdir())
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(
        app, ["predict", str(image), "--model", str(model / "best.pt"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warning: numpy 1.26.0 made this model; this machine has numpy")
    # The pipeline's own model, on the machine that trained it: no warning.
    result = CliRunner().invoke(app, ["predict", str(image), "--out", str(out)])
    assert result.exit_code == 0 and "warning" not in result.output


def test_the_app_shows_the_warning_above_the_upload(tiny_pipeline, tmp_path):
    from cxr.app import build_app
    from cxr.inference import Predictor

    model = tmp_path / "model"
    shutil.copytree(tiny_pipeline / "data/model", model)
    payload = torch.load(model / "best.pt", weights_only=True)
    payload["environment"]["packages"]["torchvision"] = "0.1.0"
    checkpoint.save(model / "best.pt", payload)
    app = build_app(Predictor.load(model / "best.pt"))
    texts = [
        c["props"].get("value") or "" for c in app.config["components"] if c["type"] == "markdown"
    ]
    assert any(t.startswith("**Warning:** torchvision 0.1.0 made this model") for t in texts)
    same = build_app(Predictor.load(tiny_pipeline / "data/model/best.pt"))
    texts = [
        c["props"].get("value") or "" for c in same.config["components"] if c["type"] == "markdown"
    ]
    assert not any("Warning" in t for t in texts)


def test_cap_sets_what_the_user_did_not_and_only_where_avx2_runs():
    environ = {"ATEN_CPU_CAPABILITY": "default", "CXR_CPU_KERNELS": "avx2"}
    applied = cap_cpu_kernels(environ, flags={"avx2", "fma", "avx512f"})
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert environ["ATEN_CPU_CAPABILITY"] == "default"  # the user's choice stands
        assert set(applied) == set(LEVELS["avx2"]) - {"ATEN_CPU_CAPABILITY"}
        assert applied["NPY_DISABLE_CPU_FEATURES"].split()[0] in ("X86_V4", "AVX512F")
    else:
        assert applied == {}
    # A CPU without AVX2 would crash in PyTorch's AVX2 kernels: no cap there.
    assert cap_cpu_kernels({}, flags={"sse4_2", "avx"}) == {}
    assert cap_cpu_kernels({"CXR_CPU_KERNELS": "native"}, flags={"avx2", "fma"}) == {}
    with pytest.raises(SystemExit, match="CXR_CPU_KERNELS='avx9'"):
        cap_cpu_kernels({"CXR_CPU_KERNELS": "avx9"})


def test_auto_caps_pytorch_only_where_the_cpu_has_no_native_bf16():
    assert caps("auto", {"avx2", "fma", "avx512f"}) == LEVELS["avx2"]
    for flag in BF16_FLAGS:  # bf16 needs PyTorch's native kernels; the data stays capped
        assert caps("auto", {"avx2", "fma", "avx512f", flag}) == DATA_CAPS
    assert not set(DATA_CAPS) & set(TORCH_CAPS)
    assert set(LEVELS["avx2"]) == set(DATA_CAPS) | set(TORCH_CAPS)


def test_bf16_is_chosen_only_where_the_cpu_computes_it_natively():
    native = {"avx2", "avx512f", "avx512_bf16"}
    assert cpu_has_bf16(native, environ={})
    assert cpu_has_bf16({"avx2", "amx_bf16"}, environ={})
    assert not cpu_has_bf16({"avx2", "avx512f", "avx512bw"}, environ={})  # emulated: slower
    assert not cpu_has_bf16(native, environ={"ONEDNN_MAX_CPU_ISA": "AVX2"})  # capped
    assert cpu_has_bf16(native, environ={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"})
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compute_dtype(cpu, "fp32") == compute_dtype(cuda, "fp32") == torch.float32
    assert compute_dtype(cpu, "auto") == (torch.bfloat16 if cpu_has_bf16() else torch.float32)
    assert precision_name(cpu, torch.float32) == "fp32"
    # CUDA by compute capability: tests/test_gpu_readiness.py


_PROBE = (
    "import os, stages, torch; from cxr.environment import numpy_simd; "
    "print(torch.backends.cpu.get_cpu_capability(), os.environ.get('ONEDNN_MAX_CPU_ISA'), "
    "os.environ.get('OPENCV_IPP'), *numpy_simd())"
)


def _probe(**env: str) -> list[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env={"PATH": "", **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


@x86
def test_stage_processes_run_avx2_kernels_unless_told_native():
    if not {"avx2", "fma"} <= cpu_flags():
        pytest.skip("this CPU has no AVX2: nothing is capped")
    default = _probe()
    capped, native = _probe(CXR_CPU_KERNELS="avx2"), _probe(CXR_CPU_KERNELS="native")
    assert capped[:3] == ["AVX2", "AVX2", "avx2"], capped
    assert "X86_V4" not in capped and "AVX512F" not in capped
    # By default the data libraries are capped everywhere, PyTorch except under native bf16.
    assert default[2] == "avx2" and "X86_V4" not in default and "AVX512F" not in default
    torch_capped = default[:2] == ["AVX2", "AVX2"]
    assert torch_capped != bool(cpu_flags() & BF16_FLAGS), default
    assert native[1:3] == ["None", "None"]
    if native[0] not in ("AVX512", "AMX"):
        pytest.skip(f"this CPU has no AVX-512 kernels to cap (torch {native[0]})")
    assert native[0] != capped[0]


@x86
def test_tools_avx2_runs_a_process_as_an_avx2_cpu_would():
    # What `python -m tools.avx2 pytest` gives the test process itself: AVX2 kernels from
    # its first import on, and no native bf16, so `auto` precision trains in fp32.
    if not {"avx2", "fma"} <= cpu_flags():
        pytest.skip("this CPU has no AVX2 kernels to run")
    code = (
        "import torch, numpy\n"
        "from cxr.device import compute_dtype\n"
        "print(torch.backends.cpu.get_cpu_capability(), compute_dtype(torch.device('cpu')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CXR_CPU_KERNELS"}
    run = subprocess.run(
        [sys.executable, "-m", "tools.avx2", sys.executable, "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert run.stdout.split() == ["AVX2", "torch.float32"], run.stdout
