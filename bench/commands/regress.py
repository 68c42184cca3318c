"""`bench regress`: the pytest-benchmark suite (tests/benchmarks) with sensible defaults: save a baseline,
or compare with one and fail on a median regression beyond a threshold; prints current vs baseline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dataclasses import dataclass

from bench.config import option
from models.errors import UserError

ROOT = Path(__file__).resolve().parents[2]  # bench/commands/regress.py -> the checkout
SUITE = ROOT / "tests" / "benchmarks"


@dataclass
class RegressConfig:
    save: str | None = option(None, "record this run as baseline NAME", metavar="NAME")
    compare: str | None = option(None, "compare with baseline NAME (or 'latest')", metavar="NAME")
    fail_on: str = option("median:10%", "pytest-benchmark --benchmark-compare-fail expression")
    storage: Path = option(Path(".benchmarks"), "where baselines are stored")
    select: str | None = option(None, "pytest -k expression, e.g. 'onnx or eager'")
    no_guards: bool = option(False, "skip the same-run speedup and parity guards")
    pytest_args: list[str] = option(help="extra pytest arguments after --", positional=True,
                                    default_factory=list)


def _baseline_file(storage: Path, name: str) -> Path | None:
    """pytest-benchmark stores runs as STORAGE/<machine id>/NNNN_<name>.json; 'latest' is the newest."""
    runs = sorted(storage.glob("*/*.json"), key=lambda p: p.name)
    if name != "latest":
        runs = [p for p in runs if p.stem.split("_", 1)[-1] == name or p.stem == name]
    return runs[-1] if runs else None


def _medians(path: Path) -> dict[str, float]:
    data = json.loads(path.read_text())
    return {b["fullname"].split("::")[-1]: b["stats"]["median"] for b in data.get("benchmarks", [])}


def run_regress(save: str | None, compare: str | None, threshold: str, storage: Path, select: str | None,
                guards: bool, extra: list[str]) -> tuple[int, list[tuple]]:
    if not SUITE.is_dir():
        raise UserError(f"bench regress runs the benchmark suite of a source checkout; {SUITE} is missing")
    if compare:
        baseline = _baseline_file(storage, compare)
        if baseline is None:
            raise UserError(f"no stored baseline '{compare}' under {storage}; record one with bench regress --save NAME")
    with tempfile.TemporaryDirectory() as tmp:
        current_json = Path(tmp) / "current.json"
        cmd = [sys.executable, "-m", "pytest", str(SUITE / "test_backend_speed.py"), "--run-benchmarks", "-q",
               "-p", "no:cacheprovider", f"--benchmark-storage=file://{storage}", f"--benchmark-json={current_json}",
               "--benchmark-columns=min,median,max,rounds"]
        if guards:
            cmd.insert(4, str(SUITE / "test_guards.py"))
        if save:
            cmd.append(f"--benchmark-save={save}")
        if compare:
            cmd += [f"--benchmark-compare={baseline.stem.split('_', 1)[0]}", f"--benchmark-compare-fail={threshold}"]
        if select:
            cmd += ["-k", select]
        cmd += extra
        # reuse exported artifacts between runs; never pass on an xdist worker's identity (pytest-benchmark disables
        # itself inside one: run from a parallel test session, the suite would time nothing)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")},
               "STILTS_BENCH_TEST_KEEP_CACHE": "1"}
        proc = subprocess.run(cmd, cwd=ROOT, env=env)
        rows = []
        if compare and current_json.is_file():
            now, before = _medians(current_json), _medians(baseline)
            for name, median in sorted(now.items()):
                if name in before:
                    rows.append((name, before[name] * 1e3, median * 1e3, 100 * (median / before[name] - 1)))
        return proc.returncode, rows
