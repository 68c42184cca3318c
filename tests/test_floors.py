"""The floors hold (models -> export -> bench -> reports -> the CLI, bench.cli; no import circles),
checked by import-linter's contracts in pyproject.toml: the real tree passes, and a copy of it with one
climbing import fails. And no module grows past 300 lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("models", "export", "bench", "reports")
LINT = Path(sys.executable).with_name("lint-imports")
needs_linter = pytest.mark.skipif(not LINT.is_file(), reason='import-linter is not installed (pip install -e ".[test]")')


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(cwd / "pyproject.toml")], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@needs_linter
def test_the_tree_keeps_its_floors():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "0 broken" in proc.stdout


@needs_linter
@pytest.mark.parametrize("module, climbing, contract", [
    ("models/files.py", "from bench.records.env import collect_env", "Floors"),
    ("export/isolate.py", "import reports.analysis", "Floors"),
    ("bench/timing/speed.py", "import reports.analysis", "Floors"),  # only the roof, bench.cli, is above reports
    ("bench/commands/run.py", "from bench.commands.sweep import run_sweep", "No command module imports another"),
    ("models/registry.py", "from models.checkpoint import Checkpoint", "No circle of imports"),
    ("bench/records/store.py", "from bench.timing.harness import TimingConfig", "bench's rooms"),
])
def test_a_climbing_import_breaks_the_build(tmp_path, module, climbing, contract):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "showcase"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{climbing}  # the climb under test\n")
    proc = _lint(tmp_path)
    assert proc.returncode != 0, proc.stdout[-3000:]
    broken = proc.stdout.split("Broken contracts")[-1]
    assert contract in broken, broken[-3000:]


def test_the_floors_contract_places_every_module_of_bench():
    """bench/ holds the roof (cli, __main__) and the floor below reports; the floors contract lists bench's modules
    one by one (so that the roof needs no exception), and a module it does not list would escape the contract."""
    import tomllib
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["name"].startswith("Floors"))
    placed = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    children = {f"bench.{p.stem if p.is_file() else p.name}" for p in (ROOT / "bench").iterdir()
                if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert children <= placed, f"add to the floors contract in pyproject.toml: {sorted(children - placed)}"
    assert layers.index("bench.cli") < layers.index("reports")


def test_no_module_over_300_lines():
    long = {str(p.relative_to(ROOT)): n for package in PACKAGES for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert not long, f"split these modules: {long}"


def test_xdist_groups_keep_their_tests_on_one_worker(tmp_path):
    """The README's test command (-n 2 --dist loadgroup) relies on xdist groups: the Ray tests must never start two
    local Ray instances at once, and the heavy tests never share the 2 cores. pytest 9 silently broke the grouping
    (pytest-dev/pytest-xdist#1386); this fails wherever the installed pytest and xdist stop honouring it."""
    pytest.importorskip("xdist", reason='pytest-xdist is not installed (pip install -e ".[test]")')
    (tmp_path / "test_grouped.py").write_text(
        "import os, time, pytest\n"
        "pytestmark = pytest.mark.xdist_group('together')\n"
        + "".join(f"def test_{i}():\n    time.sleep(0.2)\n" for i in range(4)))
    (tmp_path / "test_free.py").write_text("".join(f"def test_{i}():\n    pass\n" for i in range(4)))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not this project's settings
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
                           "-v", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    grouped = [line for line in proc.stdout.splitlines() if "test_grouped.py::" in line and "PASSED" in line]
    workers = {line.split()[0] for line in grouped}  # "[gw0] PASSED test_grouped.py::test_0@together"
    assert len(grouped) == 4 and len(workers) == 1, proc.stdout[-2000:]
