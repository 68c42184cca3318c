"""Result records on disk: one JSON object per `bench run` cell, written atomically after validation
against bench.records.schema, and read back through its upgrader.

A record loads with `pandas.read_json(path, typ="series")`; a directory of them with
`load_records(dir)` (a flat DataFrame, nested fields joined with dots)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.records.schema import upgrade, validate
from models.files import write_json_atomic


def record_filename(record: dict) -> str:
    parts = [record["model"], record["backend"], record["device"], f"bs{record['batch_size']}",
             f"seq{record['seq_len']}"]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "__".join(str(p) for p in parts)) + ".json"


def save_record(out_dir: Path, record: dict) -> Path:
    path = Path(out_dir) / record_filename(validate(record))
    write_json_atomic(path, record)
    return path


def read_records(out_dir: Path) -> list[dict]:
    """Every performance record in a directory, upgraded to the current schema."""
    return [upgrade(json.loads(p.read_text())) for p in sorted(Path(out_dir).glob("*.json"))]


def load_records(out_dir: Path):
    import pandas as pd

    return pd.json_normalize(read_records(out_dir))
