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

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML

from cxr.config import SECTIONS, check_together
from cxr.errors import InputError
from cxr.knobs import allowed

T = TypeVar("T")
PARAMS_FILE = Path("params.yaml")


class ParamsError(InputError):
    """params.yaml has a wrong key or value; the message names it."""


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
    return _coerce(node, kind, dotted)


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


def build(cls: type[T], values: dict[str, Any], where: str) -> T:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ParamsError(
            f"params.yaml: unknown key(s) {', '.join(f'{where}.{k}' for k in unknown)}; "
            f"known: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, raw in values.items():
        kwargs[key] = _coerce(raw, hints[key], f"{where}.{key}")
        limits = allowed(cls, key)
        if not dataclasses.is_dataclass(hints[key]) and not limits.admits(kwargs[key]):
            raise ParamsError(f"params.yaml: {where}.{key} = {raw!r}; allowed: {limits}")
    try:
        return cls(**kwargs)
    except InputError as err:  # a rule across keys (e.g. the split fractions' sum)
        raise ParamsError(f"params.yaml: {err}") from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ParamsError(
                f"params.yaml: {where} = {value!r}; expected one of {typing.get_args(hint)}"
            )
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            try:
                return _coerce(value, arg, where)
            except ParamsError:
                continue
        raise ParamsError(f"params.yaml: {where} = {value!r} does not fit {hint}")
    if hint is type(None):
        if value is not None:
            raise ParamsError(f"params.yaml: {where} must be empty")
        return None
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: {where} must be a mapping")
        return build(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"params.yaml: {where} = {value!r}; expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ParamsError(f"params.yaml: {where} = {value!r}; expected an integer")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamsError(f"params.yaml: {where} = {value!r}; expected a number")
        return float(value)
    if hint is str:
        if value is None:
            return ""
        if isinstance(value, bool | dict | list):
            raise ParamsError(f"params.yaml: {where} = {value!r}; expected text")
        return str(value)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ParamsError(f"params.yaml: {where} must be a list")
        (arg, *_) = typing.get_args(hint) or (Any,)
        items = [v if arg is Any else _coerce(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    return value
