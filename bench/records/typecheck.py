"""Checking a value against a TypedDict at run time (the record schema's validator): nested TypedDicts,
lists, unions, literals and NotRequired keys, with the path of the first wrong key in the error."""

import types
import typing
from typing import Any, Literal, NotRequired


class SchemaError(ValueError):
    """A record does not match its kind's schema."""


def _check(value, hint, where: str) -> None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return
    if origin is NotRequired:
        return _check(value, args[0], where)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _check(value, option, where)
            except SchemaError as e:
                errors.append(str(e))
        raise SchemaError(errors[0])
    if hint is type(None):
        if value is not None:
            raise SchemaError(f"{where} must be null")
        return
    if origin is Literal:
        if value not in args:
            raise SchemaError(f"{where} must be one of {', '.join(map(repr, args))}, not {value!r}")
        return
    if typing.is_typeddict(hint):
        return check_typeddict(value, hint, where)
    base = origin or hint
    expected = (int, float) if base is float else base
    if not isinstance(value, expected) or (base in (int, float) and isinstance(value, bool)):
        raise SchemaError(f"{where} must be {getattr(base, '__name__', base)}, not {type(value).__name__}")
    if base is list and args:
        for i, item in enumerate(value):
            _check(item, args[0], f"{where}[{i}]")


def check_typeddict(value, cls, where: str) -> None:
    if not isinstance(value, dict):
        raise SchemaError(f"{where} must be an object")
    hints = typing.get_type_hints(cls, include_extras=True)
    missing = [k for k in cls.__required_keys__ if k not in value]
    if missing:
        raise SchemaError(f"{where} lacks {', '.join(missing)}")
    for key, hint in hints.items():
        if key in value:
            _check(value[key], hint, f"{where}.{key}")
