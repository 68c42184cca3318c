"""The sweep's JSON-lines store, append-only: one line appended and fsynced per finished cell, so writing costs
the same for the thousandth cell as for the first, and a crash at any instant can at worst tear the line being
written — never a finished cell's.

- A cell written again (a retried failure, a re-measured cell) is a later line with the same `cell_id`; readers
  keep the last one.
- A torn last line (a crash or a kill mid-write) is detected: `repair()` cuts it off before a resumed sweep
  appends again, and says so in one line; its cell simply runs again.
- A failed write (a full disk, a file-size limit) truncates the file back to its last complete line and raises a
  one-line UserError: every finished cell stays readable, and the same command resumes once there is room.

Records are validated on write and upgraded to the current schema on read (bench.records.schema)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

from bench.records.schema import SweepCellRecord, upgrade, validate
from models.errors import UserError

STORE_FILE = "results.jsonl"
CONFIG_FILE = "sweep.json"


class ResultStore:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / STORE_FILE

    def _lines(self) -> tuple[list[dict[str, Any]], int, int]:
        """(parsed complete lines, byte length of the complete part, torn bytes at the end)."""
        if not self.path.is_file():
            return [], 0, 0
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1  # a last line without its newline was cut mid-write
        records = []
        for line in data[:complete].split(b"\n"):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # written by something else than put(): not trusted; its cell runs again
        return records, complete, len(data) - complete

    def read(self) -> list[SweepCellRecord]:
        """Every cell's latest record, in the order cells were first written."""
        latest: dict[object, dict[str, Any]] = {}
        for raw in self._lines()[0]:
            latest.pop(raw.get("cell_id"), None)  # a rewritten cell moves to where its latest record is
            latest[raw.get("cell_id", id(raw))] = raw
        return [cast(SweepCellRecord, upgrade({"kind": "sweep_cell", **r})) for r in latest.values()]  # version-1 cells: kind was there

    def repair(self) -> str | None:
        """Cut a torn last line off (before appending again); one line saying what was dropped, or None."""
        _, complete, torn = self._lines()
        if not torn:
            return None
        with open(self.path, "r+b") as f:
            f.truncate(complete)
            f.flush()
            os.fsync(f.fileno())
        return (f"{self.path}: dropped a torn last line ({torn} bytes, a write cut short by a crash or a kill); "
                "its cell runs again")

    def put(self, record: SweepCellRecord) -> None:
        """Append a cell's record (a later record of the same cell replaces the earlier one for readers)."""
        validate(record)
        line = (json.dumps(record, default=str) + "\n").encode("utf-8")
        try:
            append_line(self.path, line)
        except OSError as e:
            raise UserError(f"cannot append cell {record['cell_id']} to {self.path}: {e.strerror or e}; every "
                            "cell finished before it is kept: make room and run the same command to resume"
                            ) from None

    def finished(self) -> dict[str, SweepCellRecord]:
        return {r["cell_id"]: r for r in self.read() if "cell_id" in r}

    def config(self) -> dict[str, Any]:
        """The run's sweep.json (its settings and every command that contributed), {} when absent."""
        path = self.run_dir / CONFIG_FILE
        return cast(dict[str, Any], json.loads(path.read_text())) if path.is_file() else {}


def append_line(path: Path, line: bytes) -> None:
    """Append one whole line and fsync it. A torn last line left by a crash is cut off first (never glued onto); a
    failed write truncates the file back to its last complete line and raises the OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = os.pread(fd, size, 0)
            size = data.rfind(b"\n") + 1
            os.ftruncate(fd, size)
        try:
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)  # no torn line left behind: the file ends with its last whole line
            except OSError:
                pass
            raise
    finally:
        os.close(fd)
