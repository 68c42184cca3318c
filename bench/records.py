"""Result records: one typed JSON object per measured cell, written atomically.

A record loads with `pandas.read_json(path, typ="series")`; a directory of them with
`load_records(dir)` (a flat DataFrame, nested fields joined with dots)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

SCHEMA_VERSION = 1
REQUIRED = ("schema_version", "kind", "model", "backend", "device", "batch_size", "seq_len", "throughput",
            "latency_ms", "peak_memory_mb", "size_mb", "parity", "env")


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, default=str))


def record_filename(record: dict) -> str:
    parts = [record["model"], record["backend"], record["device"], f"bs{record['batch_size']}",
             f"seq{record['seq_len']}"]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "__".join(str(p) for p in parts)) + ".json"


def validate(record: dict) -> dict:
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ValueError(f"record lacks {', '.join(missing)}")
    return record


def save_record(out_dir: Path, record: dict) -> Path:
    path = Path(out_dir) / record_filename(validate(record))
    write_json_atomic(path, record)
    return path


def load_records(out_dir: Path):
    import pandas as pd

    rows = [json.loads(p.read_text()) for p in sorted(Path(out_dir).glob("*.json"))]
    return pd.json_normalize(rows)


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over the target: a reader
    sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
