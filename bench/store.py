"""The sweep's JSON-lines store. Every write replaces the whole file atomically (temporary file + fsync
+ rename), so a sweep killed at any instant leaves either the old or the new file, never a torn line;
a torn line from any other writer is still skipped on read rather than trusted. Records are validated
on write and upgraded to the current schema on read (bench.schema)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.schema import SweepCellRecord, upgrade, validate
from models.files import write_text_atomic

STORE_FILE = "results.jsonl"
CONFIG_FILE = "sweep.json"


class ResultStore:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / STORE_FILE

    def _raw(self) -> list[dict]:
        if not self.path.is_file():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line is a cell that did not finish: it will be run again
        return records

    def read(self) -> list[SweepCellRecord]:
        return [upgrade({"kind": "sweep_cell", **r}) for r in self._raw()]  # version-1 cells: kind was there

    def put(self, record: SweepCellRecord) -> None:
        """Add a cell's record, replacing an earlier record of the same cell (a retried failure)."""
        validate(record)
        records = [r for r in self.read() if r.get("cell_id") != record["cell_id"]]
        records.append(record)
        write_text_atomic(self.path, "".join(json.dumps(r, default=str) + "\n" for r in records))

    def finished(self) -> dict[str, SweepCellRecord]:
        return {r["cell_id"]: r for r in self.read() if "cell_id" in r}

    def config(self) -> dict:
        """The run's sweep.json (its settings and every command that contributed), {} when absent."""
        path = self.run_dir / CONFIG_FILE
        return json.loads(path.read_text()) if path.is_file() else {}
