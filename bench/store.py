"""The sweep's JSON-lines store. Every write replaces the whole file atomically (temporary file + fsync
+ rename), so a sweep killed at any instant leaves either the old or the new file, never a torn line;
a torn line from any other writer is still skipped on read rather than trusted."""

from __future__ import annotations

import json
from pathlib import Path

from bench.records import write_text_atomic

STORE_FILE = "results.jsonl"


class ResultStore:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / STORE_FILE

    def read(self) -> list[dict]:
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

    def put(self, record: dict) -> None:
        """Add a cell's record, replacing an earlier record of the same cell (a retried failure)."""
        records = [r for r in self.read() if r.get("cell_id") != record["cell_id"]]
        records.append(record)
        write_text_atomic(self.path, "".join(json.dumps(r, default=str) + "\n" for r in records))

    def finished(self) -> dict[str, dict]:
        return {r["cell_id"]: r for r in self.read() if "cell_id" in r}
