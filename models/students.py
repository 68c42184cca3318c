"""Distilled students register as sizes: `<teacher>-L<k>` directories under the cache's students/."""

from __future__ import annotations

from pathlib import Path

from models.files import cache_root


def students_root() -> Path:
    return cache_root() / "students"


def student_dir(name: str) -> Path | None:
    path = students_root() / name
    return path if (path / "config.json").is_file() else None


def list_students() -> list[str]:
    root = students_root()
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []
