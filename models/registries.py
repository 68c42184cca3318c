"""One registry type for every named thing a user picks: backends, tasks, executors, report sections, calibration
sources, model sizes. On the lowest floor so that every floor can hold one.

- Entries are lazy: a "module:object" string is imported on first use (heavy libraries load only when their
  entry is used); an object may be registered directly.
- A name is registered once: a duplicate is a programming error, refused at once.
- A loaded entry is checked against the registry's base class (a class must subclass it; an instance must be one).
- A mistyped name is answered in one line with the nearest names: `unknown backend 'onnx-int88'; did you mean
  'onnx-int8'? (choose from eager, ...)`.

Idea from lm-evaluation-harness's `lm_eval/api/registry.py` (lazy entries, base-class check, near misses)."""

from __future__ import annotations

import difflib
import importlib
from typing import Generic, Iterable, Iterator, TypeVar

from models.errors import UserError

T = TypeVar("T")


def near_misses(name: str, choices: Iterable[str], cutoff: float = 0.6) -> list[str]:
    """The registered name closest to a mistyped one (difflib's similarity, at least `cutoff`), with any that are
    exactly as close; [] when none is close."""
    scored = [(difflib.SequenceMatcher(None, name, c).ratio(), c) for c in choices]
    best = max((r for r, _ in scored), default=0.0)
    return [c for r, c in scored if r == best] if best >= cutoff else []


def unknown_name_error(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UserError:
    """One line: what is unknown, the nearest names, and every name (or the hint saying where they are listed)."""
    choices = list(choices)
    close = near_misses(name, choices)
    suggestion = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listing = f" (choose from {', '.join(list(choices))}{'; ' + hint if hint else ''})"
    return UserError(f"unknown {kind} '{name}'{suggestion}{listing}")


class Registry(Generic[T]):
    def __init__(self, kind: str, base: type | None = None, hint: str = ""):
        self.kind, self.base, self.hint = kind, base, hint
        self._entries: dict[str, object] = {}
        self._loaded: dict[str, T] = {}

    def register(self, name: str, target: str | T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        if isinstance(target, str) and target.count(":") != 1:
            raise ValueError(f"{self.kind} '{name}': a lazy entry is 'module:object', not {target!r}")
        self._entries[name] = target

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, name: str) -> str:
        """The name itself when registered, else the one-line UserError with the nearest names."""
        if name not in self._entries:
            raise unknown_name_error(self.kind, name, self._entries, self.hint)
        return name

    def get(self, name: str) -> T:
        """The registered object (a lazy entry is imported once, then cached)."""
        if name in self._loaded:
            return self._loaded[name]
        target = self._entries[self.check(name)]
        if isinstance(target, str):
            module, attribute = target.split(":")
            target = getattr(importlib.import_module(module), attribute)
        if self.base is not None:
            ok = issubclass(target, self.base) if isinstance(target, type) else isinstance(target, self.base)
            if not ok:
                raise TypeError(f"{self.kind} '{name}' is {target!r}, not a {self.base.__name__}")
        self._loaded[name] = target  # type: ignore[assignment]
        return target  # type: ignore[return-value]

    __getitem__ = get

    def items(self) -> list[tuple[str, T]]:
        """(name, object) of every entry, loading each."""
        return [(name, self.get(name)) for name in self._entries]

    def entry(self, name: str) -> object:
        """The registered entry without loading it ("module:object" or the object)."""
        return self._entries[self.check(name)]
