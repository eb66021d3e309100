"""A params.yaml section built into its frozen config dataclass: every key known, every
value of its declared type (``true`` is never an integer) and range (``cxr.knobs``)."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from cxr.errors import InputError
from cxr.knobs import allowed

T = TypeVar("T")


class ParamsError(InputError):
    """params.yaml has a wrong key or value; the message names it."""


def build(cls: type[T], values: dict[str, Any], where: str) -> T:
    """``cls`` from ``values``, every key known, typed and in its declared range."""
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
        kwargs[key] = coerce(raw, hints[key], f"{where}.{key}")
        limits = allowed(cls, key)
        if not dataclasses.is_dataclass(hints[key]) and not limits.admits(kwargs[key]):
            raise ParamsError(f"params.yaml: {where}.{key} = {raw!r}; allowed: {limits}")
    try:
        return cls(**kwargs)
    except InputError as err:  # a rule across keys (e.g. the split fractions' sum)
        raise ParamsError(f"params.yaml: {err}") from None


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the type ``hint`` names (a Literal, a union, a dataclass, a scalar or a
    list or tuple of them), or a :class:`ParamsError` naming ``where``."""
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
                return coerce(value, arg, where)
            except ParamsError:
                continue
        raise ParamsError(f"params.yaml: {where} = {value!r} does not fit {hint}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: {where} must be a mapping")
        return build(hint, value, where)
    if hint in _SCALARS:
        accepts, convert, expected = _SCALARS[hint]
        if not accepts(value):
            raise ParamsError(f"params.yaml: {where} = {value!r}; expected {expected}")
        return convert(value)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ParamsError(f"params.yaml: {where} must be a list")
        (arg, *_) = typing.get_args(hint) or (Any,)
        items = [v if arg is Any else coerce(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: Per scalar type: whether a YAML value is one, how it converts, what an error expects.
_SCALARS: dict[Any, tuple[Callable[[Any], bool], Callable[[Any], Any], str]] = {
    bool: (lambda v: isinstance(v, bool), bool, "true or false"),
    int: (lambda v: _number(v) and int(v) == v, int, "an integer"),
    float: (_number, float, "a number"),
    str: (lambda v: not isinstance(v, bool | dict | list), lambda v: "" if v is None else str(v),
          "text"),
    type(None): (lambda v: v is None, lambda v: None, "nothing (leave it empty)"),
}  # fmt: skip
