"""Read params.yaml into the library's typed, frozen config dataclasses.

YAML 1.2 (ruamel) so that ``1e-05``, which ``dvc exp run -S`` writes, is a
number and not a string. Unknown keys are errors, so a typo never silently
falls back to a default. Every value is checked against the type and the range
its dataclass declares (``cxr.knobs``), in every section, when the file is
loaded: a stage loads params.yaml before it touches any output, so a bad value
stops it with exit 2 and the key, the value and what is allowed, and nothing
removed. Under DVC the ``params`` stage runs this check before any other stage
(DVC deletes a stage's outputs before it runs its command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML

from cxr.config import SECTIONS, check_together
from cxr.errors import InputError
from stages.typed import ParamsError, build, coerce

T = TypeVar("T")
PARAMS_FILE = Path("params.yaml")


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """params.yaml as a mapping, after every section has passed :func:`section`'s checks."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path} not found: run the stage from the repository root")
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    configs = {name: section(data, name, cls) for name, cls in SECTIONS.items()}
    try:
        check_together(configs)
    except InputError as err:
        raise ParamsError(f"params.yaml: {err}") from None
    return data


def section(params: dict[str, Any], name: str, cls: type[T]) -> T:
    """Build ``cls`` from ``params[name]``; missing keys take the dataclass defaults."""
    values = params.get(name) or {}
    if not isinstance(values, dict):
        raise ParamsError(f"params.yaml: section '{name}' must be a mapping")
    return build(cls, values, name)


def value(params: dict[str, Any], dotted: str, kind: type[T]) -> T:
    """One key of another stage's section (``"ingest.raw_dir"``), type-checked; a key the
    file leaves out takes its default, as :func:`section` gives it."""
    node: Any = params
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return _default(dotted)
        node = node[key]
    return coerce(node, kind, dotted)


def _default(dotted: str) -> Any:
    name, *keys = dotted.split(".")
    if name not in SECTIONS:
        raise ParamsError(f"params.yaml: missing key {dotted}")
    node: Any = SECTIONS[name]()
    for key in keys:
        if not hasattr(node, key):
            raise ParamsError(f"params.yaml: missing key {dotted}")
        node = getattr(node, key)
    return node


def named(items: tuple[T, ...], name: str, key: str) -> T:
    """The entry of the params list ``key`` (``external.sets``, ``peers.models``) whose
    ``name`` is ``name``."""
    for item in items:
        if getattr(item, "name", None) == name:
            return item
    known = ", ".join(getattr(i, "name", "?") for i in items) or "none"
    raise ParamsError(f"params.yaml: no entry named {name!r} in {key} (it lists: {known})")
