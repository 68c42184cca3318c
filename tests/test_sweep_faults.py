"""Faults a sweep must survive, each on the real components (real cell processes and their timing children, real
files, a real tmpfs, kill -9), bounded in time: no finished cell lost, nothing mixed, no process left behind, one
line saying what happened. (A killed Ray worker: tests/test_ray_executor.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.executors.process import marked_processes
from bench.records.store import ResultStore
from tests.test_cli import BENCH, SWEEP_FAST, bench
from tests.test_sweep import _tatoeba_dir

pytestmark = pytest.mark.slow


def _args(model, data, out, backends="eager,torchscript", *extra):
    return ["sweep", "--models", str(model), "--backends", backends, "--tasks", "tatoeba", "--langs", "de",
            "--batch-sizes", "2", "--seq-lens", "16", "--data-dir", str(data), "--out", str(out), *SWEEP_FAST, *extra]


def _named(mark: str, prefix: str) -> list[int]:
    """This sweep's processes whose name (/proc/PID/comm, set by export.isolate.name_process) starts with prefix."""
    found = []
    for pid in marked_processes(mark):
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith(prefix):
                found.append(pid)
        except OSError:
            pass
    return found


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _start(args) -> subprocess.Popen:
    return subprocess.Popen([BENCH, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, stderr = proc.communicate(timeout=600)
    return proc.returncode, stderr


def _one_line_error(stderr: str, *needles: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("bench: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_killed_driver_takes_its_cells_processes_then_resume_checks_torn_lines_data_and_checkpoint(
        tiny_encoder, tmp_path):
    import shutil

    model = shutil.copytree(tiny_encoder, tmp_path / "model")  # this test changes it
    data, out = _tatoeba_dir(tmp_path), tmp_path / "runs" / "faults"
    mark, store = str(out.resolve()), ResultStore(out)

    # 1. kill -9 the driver alone while its first cell is timing: the cell and its timing child die with it
    proc = _start(_args(model, data, out))
    timing = _wait_for(lambda: _named(mark, "stilts:measure"), 240, "the first cell's timing child")
    cell = _named(mark, "stilts:cell")
    assert cell, "no cell process carries the sweep's mark"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait_for(lambda: not marked_processes(mark), 15, f"the orphans of the killed driver ({cell + timing}) to die")
    assert store.read() == []  # the killed cell was never recorded

    # 2. resume: both cells run, none twice
    bench(*_args(model, data, out), check_rc=0)
    first = {r["cell_id"]: r for r in store.read()}
    assert sorted(first) == [f"{model}|eager|tatoeba", f"{model}|torchscript|tatoeba"]
    assert all(r["status"] == "ok" for r in first.values()), {k: r.get("error") for k, r in first.items()}
    deps = first[f"{model}|eager|tatoeba"]["dependencies"]
    assert deps["checkpoint"]["path"] == str(model.resolve()) and len(deps["checkpoint"]["sha256"]) == 64
    assert sorted(Path(p).name for p in deps["data_files"]) == ["tatoeba.deu-eng.deu", "tatoeba.deu-eng.eng"]
    assert deps["settings"]["threads"] == 1 and deps["environment"]["packages"]["torch"]
    assert not marked_processes(mark)

    # 3. a torn last line (a crash mid-write): dropped with one line, its cell runs again, the other is kept
    raw = store.path.read_bytes()
    last_start = raw.rstrip(b"\n").rfind(b"\n") + 1
    torn_id = json.loads(raw[last_start:])["cell_id"]
    store.path.write_bytes(raw[:last_start + (len(raw) - last_start) // 2])
    resumed = bench(*_args(model, data, out), check_rc=0)
    assert "dropped a torn last line" in resumed.stderr and "its cell runs again" in resumed.stderr
    after = {r["cell_id"]: r for r in store.read()}
    kept_id = next(c for c in first if c != torn_id)
    assert after[kept_id]["timestamp"] == first[kept_id]["timestamp"] and after[torn_id]["status"] == "ok"
    assert store.path.read_bytes().endswith(b"\n") and len(store.path.read_text().splitlines()) == 2

    # 4. a data file changed between two runs: refused in one line naming it; nothing rewritten
    before = store.path.read_bytes()
    eng = data / "tatoeba" / "tatoeba.deu-eng.eng"
    eng.write_text(eng.read_text().replace("I am hungry.", "I am very hungry."))
    refused = bench(*_args(model, data, out), check_rc=2)
    _one_line_error(refused.stderr, "2 finished cell(s)", "tatoeba.deu-eng.eng (content changed)", "--rerun-changed",
                    "new --out")
    assert store.path.read_bytes() == before

    # 5. and the checkpoint changed too: --rerun-changed re-measures only what depends on it (here every cell)
    metadata = json.loads((model / "stilts.json").read_text())
    (model / "stilts.json").write_text(json.dumps({**metadata, "note": "retrained"}))
    refused = bench(*_args(model, data, out), check_rc=2)
    _one_line_error(refused.stderr, "(and 1 more)")
    rerun = bench(*_args(model, data, out), "--rerun-changed", check_rc=0)
    assert "re-measuring 2 cell(s) whose dependencies changed" in rerun.stderr
    final = {r["cell_id"]: r for r in store.read()}
    assert len(final) == 2 and not marked_processes(mark)
    for cell_id, record in final.items():
        assert record["status"] == "ok" and record["dependencies"]["checkpoint"]["sha256"] != deps["checkpoint"]["sha256"]
        assert record["accuracy"]["n_examples"] == {"de": 12}
    bench(*_args(model, data, out), check_rc=0)  # and now it resumes quietly


def test_a_killed_timing_child_or_a_timeout_costs_one_cell_and_leaves_no_process(tiny_encoder, tmp_path):
    data = _tatoeba_dir(tmp_path)

    # the cell's timing child killed: that cell fails with one line, the next cell runs
    out = tmp_path / "runs" / "child"
    mark = str(out.resolve())
    proc = _start(_args(tiny_encoder, data, out))
    (victim, *_) = _wait_for(lambda: _named(mark, "stilts:measure"), 240, "a timing child")
    os.kill(victim, signal.SIGKILL)
    rc, stderr = _finish(proc)
    assert rc == 0, stderr[-2000:]
    records = {r["backend"]: r for r in ResultStore(out).read()}
    assert records["eager"]["status"] == "failed" and records["eager"]["error_kind"] == "crash"
    assert "the worker process died while running measure_cell" in records["eager"]["error"]
    assert records["torchscript"]["status"] == "ok"
    assert not marked_processes(mark)

    # a cell past --timeout: recorded as timed out; its cell process and timing child are gone at once
    out = tmp_path / "runs" / "timeout"
    mark = str(out.resolve())
    slow = [*_args(tiny_encoder, data, out, "eager"), "--min-time", "300", "--max-time", "300", "--timeout", "60"]
    proc = _start(slow)
    _wait_for(lambda: _named(mark, "stilts:measure"), 60, "the timing child before the timeout")
    rc, stderr = _finish(proc)
    assert rc == 0, stderr[-2000:]
    (record,) = ResultStore(out).read()
    assert record["status"] == "failed" and record["error_kind"] == "timeout"
    assert "timed out after 60 s (its processes were ended)" in record["error"]
    assert not marked_processes(mark)


def test_store_write_that_hits_a_file_size_limit_keeps_every_finished_cell(tmp_path):
    """A write cut short (EFBIG under RLIMIT_FSIZE, as ENOSPC on a full disk) leaves no torn line and one line."""
    from tests.test_sweep import _cell

    store = ResultStore(tmp_path)
    store.put(_cell("a", "eager", "xnli", 70.0, 10.0))
    size = store.path.stat().st_size
    script = f"""
import resource, sys
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from pathlib import Path
from bench.records.store import ResultStore
from models.errors import UserError
from tests.test_sweep import _cell
resource.setrlimit(resource.RLIMIT_FSIZE, ({size + 100}, resource.RLIM_INFINITY))
try:
    ResultStore(Path({str(tmp_path)!r})).put(_cell("b", "eager", "xnli", 70.0, 10.0))
except UserError as e:
    print(e)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "cannot append cell b|eager|xnli" in proc.stdout and "File too large" in proc.stdout, proc.stderr
    assert "make room and run the same command to resume" in proc.stdout
    assert store.path.stat().st_size == size and [r["cell_id"] for r in store.read()] == ["a|eager|xnli"]


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _fill(path: Path) -> None:
    """Write zeros to `path` until its disk refuses another page."""
    with open(path, "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass


@pytest.mark.parametrize("fills, says", [
    # once the second cell has written its predictions: its record is then the write that fails
    ("after the second cell's predictions", "cannot append cell"),
    # while the second cell is still starting: its own predictions are the write that fails; the cell is not to blame,
    # so it is not recorded as failed (that would keep it out of a plain resume) and the same command runs it
    ("before the second cell writes", "could not write its outputs"),
])
def test_a_full_disk_during_a_sweep_stops_it_in_one_line_and_the_same_command_resumes(tiny_encoder, tmp_path, fills,
                                                                                       says):
    disk = tmp_path / "disk"
    if os.geteuid() != 0 or not _mount_tmpfs(disk, "4m"):
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    proc = None
    try:
        data, out = _tatoeba_dir(tmp_path), disk / "run"
        mark, store = str(out.resolve()), ResultStore(out)
        proc = _start(_args(tiny_encoder, data, out))
        _wait_for(lambda: store.read(), 300, "the first cell's record")
        # an ok record needs more than the slack in the store's last tmpfs page (a page is 4 KiB)
        assert store.path.stat().st_size > 4096
        if fills.startswith("after"):
            _wait_for(lambda: list(out.glob("predictions/*torchscript*/*")), 300, "the second cell's predictions")
        _fill(disk / "filler")  # the disk fills up while the second cell runs
        rc, stderr = _finish(proc)
        assert rc == 2, stderr[-2000:]
        _one_line_error(stderr, says, "No space left on device", "run the same command to resume")
        (kept,) = store.read()
        assert kept["status"] == "ok" and store.path.read_bytes().endswith(b"\n")
        assert not marked_processes(mark)
        (disk / "filler").unlink()
        bench(*_args(tiny_encoder, data, out), check_rc=0)
        after = {r["cell_id"]: r for r in store.read()}
        assert len(after) == 2 and after[kept["cell_id"]]["timestamp"] == kept["timestamp"]
        assert all(r["status"] == "ok" for r in after.values()), {k: r.get("error") for k, r in after.items()}
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_cache_entry_another_process_finished_first_is_kept_not_pulled_from_under_its_readers(tmp_path):
    """Two processes sharing one cache (two test workers, two sweeps) may build the same entry at once: the one that
    finishes second must not remove the first's files, which a reader may have open."""
    from models.files import build_atomically

    target = tmp_path / "entry"
    complete = lambda entry: (entry / "done").is_file()  # noqa: E731

    def writes(text):
        def build(staging):
            (staging / "weights").write_text(text)
            (staging / "done").write_text("")
        return build

    def finished_by_another_process_meanwhile(staging):
        writes("second")(staging)
        build_atomically(target, writes("first"), complete)

    build_atomically(target, finished_by_another_process_meanwhile, complete)
    reader = (target / "weights").open()
    inode = (target / "weights").stat().st_ino
    build_atomically(target, writes("third"), complete)  # already complete: this build is discarded
    assert reader.read() == "first" and (target / "weights").stat().st_ino == inode
    reader.close()
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # no staging directory left behind
    (target / "done").unlink()  # an incomplete entry is rebuilt, and without a completion test one is replaced
    build_atomically(target, writes("fourth"), complete)
    assert (target / "weights").read_text() == "fourth"
    build_atomically(target, writes("fifth"))
    assert (target / "weights").read_text() == "fifth"
