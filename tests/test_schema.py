"""The record schema: every key is documented, writers refuse what does not match, and the records of a real
version-1 sweep (written by stilts-bench at commit 6b86ac7, kept in tests/fixtures/v1-run) load, upgrade,
validate and render."""

from __future__ import annotations

import ast
import shutil
import typing
from pathlib import Path

import pytest

from bench.records import schema
from bench.records.schema import SchemaError, upgrade, validate
from bench.records.store import ResultStore
from tests.conftest import ROOT
from tests.test_cli import bench

V1_RUN = Path(__file__).parent / "fixtures" / "v1-run"


def test_every_key_of_every_record_kind_is_commented():
    tree = ast.parse((ROOT / "bench" / "records" / "schema.py").read_text())
    lines = (ROOT / "bench" / "records" / "schema.py").read_text().splitlines()
    typed = {name for name, obj in vars(schema).items() if typing.is_typeddict(obj)}
    bare = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in typed):
        for field in (s for s in cls.body if isinstance(s, ast.AnnAssign)):
            nested = ast.unparse(field.annotation) in typed  # a nested TypedDict documents its own keys
            if "#" not in lines[field.lineno - 1] and not nested and field.target.id not in ("schema_version", "kind"):
                bare.append(f"{cls.name}.{field.target.id}")
    assert not bare, f"document these keys (unit, when present): {bare}"


def test_validate_names_the_wrong_key():
    with pytest.raises(SchemaError, match="record kind 'nope'"):
        validate({"kind": "nope"})
    with pytest.raises(SchemaError, match=r"sweep_cell.status must be one of 'ok', 'failed'"):
        schema.sweep_cell_record(cell_id="a|b|c", model="a", backend="b", task="c", device="cpu", gate={},
                                 status="maybe", cell_seconds=1.0)
    with pytest.raises(SchemaError, match=r"sweep_cell.cell_seconds must be float, not bool"):
        schema.sweep_cell_record(cell_id="a|b|c", model="a", backend="b", task="c", device="cpu", gate={},
                                 status="failed", cell_seconds=True)


def test_a_newer_record_is_refused_with_the_way_out():
    with pytest.raises(SchemaError, match="upgrade stilts-bench"):
        upgrade({"kind": "accuracy", "schema_version": schema.SCHEMA_VERSION + 1})


def test_version_1_sweep_records_upgrade_and_validate():
    records = ResultStore(V1_RUN).read()
    raw = (V1_RUN / "results.jsonl").read_text()
    assert records and '"schema_version"' not in raw  # version 1 wrote sweep cells without a version
    for record in records:
        validate(record)
        assert record["schema_version"] == schema.SCHEMA_VERSION
        isa = record["env"]["cpu"]["isa"]  # derived from the flags version 1 recorded
        assert isa["avx2"] == ("avx2" in record["env"]["cpu"]["flags"])


def test_the_version_1_run_renders_with_the_upgraded_reader(tmp_path):
    run = tmp_path / "v1-run"
    shutil.copytree(V1_RUN, run)
    bench("report", run, check_rc=0)
    md = (run / "report" / "report.md").read_text()
    assert "demo|onnx-int8" in md.replace("\\|", "|") and "## Summary" in md
    best = bench("best", run, "--within", "1.0", check_rc=0)
    assert "tatoeba: fastest within 1 point(s)" in best.stdout
