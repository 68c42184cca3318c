"""A backend's options as a typed, frozen dataclass (optimum-benchmark's per-backend config, in miniature).

Each backend module declares `class Options(BackendOptions)` with one `option(...)` per field: its type comes from
the annotation, its allowed values (`choices`) or range (`between`) and its help from the field. Validation of a
user's `--option KEY=VALUE` (or a sweep's `BACKEND[KEY=VALUE;...]`) and the help that `bench list --options`
prints both come from that one declaration. What travels on (the artifact's cache key, the manifest, the record)
is the resolved dict, `dataclasses.asdict`, so records and cached artifacts keep their form.

Written here rather than with pydantic: five scalar types, choices and ranges are all a backend needs, and every
error must be one line naming the backend, the option, what it takes and what it got."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from typing import Any

from models.errors import UserError


def option(default: Any, help: str, *, choices: tuple[Any, ...] | None = None,
           between: tuple[float, float | None] | None = None) -> Any:
    """One backend option: its default, one line of help, and optionally the values it takes or its range
    (`between=(0, None)`: no upper end)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "between": between})


@dataclass(frozen=True)
class BackendOptions:
    """Options every backend takes."""

    layer: int | None = option(None, "encoder layer the artifact outputs (default: the one the head reads)",
                               between=(0, None))


def parse_assignment(text: str, where: str) -> tuple[str, Any]:
    """`KEY=VALUE` -> (key, value): JSON where VALUE is JSON (17, true, 0.5), else the bare string
    (`calibration=xnli:en:128`). One parser for the command line's `--option` and a sweep's `BACKEND[...]`."""
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise UserError(f"{where}: '{text}' is not KEY=VALUE")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value.strip()


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _kinds(cls: type[BackendOptions]) -> dict[str, tuple[type, bool]]:
    """field name -> (scalar type, whether None is allowed), from the annotations."""
    kinds = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint)
        optional = type(None) in args
        scalar = next((a for a in args if a is not type(None)), hint) if args else hint
        kinds[name] = (scalar, optional)
    return kinds


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and not isinstance(value, bool)


def validate(cls: type[BackendOptions], backend: str, given: dict[str, Any]) -> BackendOptions:
    """The typed options for `given` (defaults filled in), or one UserError naming what is wrong."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise UserError(f"backend {backend} has no option {', '.join(unknown)} (its options: "
                        f"{', '.join(sorted(fields))}; `bench list --options` describes them)")
    kinds = _kinds(cls)
    for key, value in given.items():
        kind, optional = kinds[key]
        where = f"backend {backend} option {key}"
        if value is None and optional:
            continue
        if not _fits(value, kind):
            raise UserError(f"{where} takes {_TYPE_WORDS.get(kind, kind.__name__)}, not {value!r}")
        choices, between = fields[key].metadata["choices"], fields[key].metadata["between"]
        if choices and value not in choices:
            raise UserError(f"{where} must be one of {', '.join(map(str, choices))}, not {value!r}")
        if between and value < between[0]:
            raise UserError(f"{where} must be {_range_text(between)}, not {value!r}")
        if between and between[1] is not None and value > between[1]:
            raise UserError(f"{where} must be {_range_text(between)}, not {value!r}")
    values: dict[str, Any] = {k: (float(v) if kinds[k][0] is float and v is not None else v)
                              for k, v in given.items()}
    return cls(**values)


def _range_text(between: tuple[float, float | None]) -> str:
    return f">= {between[0]}" if between[1] is None else f"between {between[0]} and {between[1]}"


def describe(cls: type[BackendOptions]) -> list[tuple[str, str, str, str]]:
    """(name, what it takes, default, help) per option, for `bench list --options`."""
    rows = []
    kinds = _kinds(cls)
    for f in dataclasses.fields(cls):
        kind, optional = kinds[f.name]
        takes = _TYPE_WORDS.get(kind, kind.__name__)
        if f.metadata["choices"]:
            takes = " | ".join(map(str, f.metadata["choices"]))
        elif f.metadata["between"]:
            takes = f"{takes} {_range_text(f.metadata['between'])}"
        default = f.default if isinstance(f.default, str) else json.dumps(f.default)
        rows.append((f.name, takes + (" or null" if optional else ""), default, f.metadata["help"]))
    return rows
