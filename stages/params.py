"""Read params.yaml into the library's typed, frozen config dataclasses.

YAML 1.2 (ruamel) so that ``1e-05``, which ``dvc exp run -S`` writes, is a
number and not a string. Unknown keys are errors, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML

from cxr.errors import InputError

T = TypeVar("T")
PARAMS_FILE = Path("params.yaml")


class ParamsError(InputError):
    """params.yaml has a wrong key or value; the message names it."""


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path} not found: run the stage from the repository root")
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return data


def section(params: dict[str, Any], name: str, cls: type[T]) -> T:
    """Build ``cls`` from ``params[name]``; missing keys take the dataclass defaults."""
    values = params.get(name) or {}
    if not isinstance(values, dict):
        raise ParamsError(f"params.yaml: section '{name}' must be a mapping")
    return build(cls, values, name)


def value(params: dict[str, Any], dotted: str, kind: type[T]) -> T:
    """One key of another stage's section (``"ingest.raw_dir"``), type-checked."""
    node: Any = params
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise ParamsError(f"params.yaml: missing key {dotted}")
        node = node[key]
    return _coerce(node, kind, dotted)


def build(cls: type[T], values: dict[str, Any], where: str) -> T:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ParamsError(
            f"params.yaml: unknown key(s) {', '.join(f'{where}.{k}' for k in unknown)}; "
            f"known: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


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
