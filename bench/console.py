"""Terminal output helpers shared by bench's and reports' tables (rich only; nothing else of ours)."""

from __future__ import annotations

from rich.console import Console


def wide_console() -> Console:
    """Tables here have many numeric columns: never squeeze them below 130 characters (rich falls
    back to 80 when output is not a terminal, which truncates every number)."""
    return Console(width=max(Console().width, 130))


def fmt(value, spec: str = ".1f", empty: str = "-") -> str:
    return empty if value is None else format(value, spec)
