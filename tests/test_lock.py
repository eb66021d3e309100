"""requirements-lock.txt: pins what pyproject asks for, and is what this environment runs."""

from __future__ import annotations

import platform
import re
import sys
from importlib.metadata import PackageNotFoundError, distribution

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

LOCK = ROOT / "requirements-lock.txt"


def _lock() -> dict[str, str]:
    pins = {}
    for number, line in enumerate(LOCK.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version.strip(), f"{LOCK.name} line {number}: {line!r} is not name==version"
        pins[canonicalize_name(name)] = version.strip()
    return pins


def _lock_platform() -> tuple[str, str, str]:
    """(python x.y, sys.platform, machine) that the header says the lock was resolved for."""
    header = re.search(r"for (\w+) (\d+\.\d+) on (\S+) (\S+)\.", LOCK.read_text())
    assert header, f"{LOCK.name} does not say what it was resolved for"
    return header.group(2), header.group(3), header.group(4)


def _project_requirements() -> list[Requirement]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [Requirement(s) for s in specs]


def test_lock_pins_every_project_requirement_inside_its_range():
    pins = _lock()
    environment = default_environment() | {"extra": "dev"}
    wrong = []
    for req in _project_requirements():
        if req.marker and not req.marker.evaluate(environment):
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req}: lock has {version}")
    assert not wrong, f"{LOCK.name} is stale (run python -m tools.lock): {wrong}"


def test_lock_pins_the_build_machines_torch():
    pins = _lock()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"


def _closure() -> dict[str, str]:
    """Installed ``{name: version}`` of everything cxr[dev] needs here, transitively."""
    seen: dict[str, str] = {}
    visited: set[tuple[str, frozenset]] = set()
    todo = [("cxr", frozenset({"dev"}))]
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in visited:
            continue
        visited.add((canonicalize_name(name), extras))
        dist = distribution(name)
        key = canonicalize_name(dist.metadata["Name"])
        if key != "cxr":
            seen[key] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            wanted = any(
                req.marker is None or req.marker.evaluate(default_environment() | {"extra": e})
                for e in extras | {""}
            )
            if wanted:
                todo.append((req.name, frozenset(req.extras)))
    return seen


def test_this_environment_is_the_lock():
    python, system, machine = _lock_platform()
    here = (f"{sys.version_info.major}.{sys.version_info.minor}", sys.platform, platform.machine())
    if here != (python, system, machine):
        pytest.skip(f"the lock is for Python {python} on {system} {machine}; this is {here}")
    try:
        installed = _closure()
    except PackageNotFoundError as missing:
        pytest.fail(f"{missing} is required but not installed: install through {LOCK.name}")
    pins = _lock()
    differ = {n: (v, pins.get(n)) for n, v in installed.items() if pins.get(n) != v}
    assert not differ, (
        f"installed versions differ from {LOCK.name} (installed, locked): {differ}; "
        f"install with pip install -c {LOCK.name} -e '.[dev]'"
    )
    extra = sorted(set(pins) - set(installed))
    assert not extra, f"{LOCK.name} pins packages nothing here needs (stale?): {extra}"
