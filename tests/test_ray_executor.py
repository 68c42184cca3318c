"""`bench sweep --executor ray` on a real local Ray instance (started by the sweep on loopback): records shaped
like the local executor's, a Ray worker killed mid-cell becomes a failed cell with Ray's reason while the sweep
goes on, and --retry-failed re-runs only that cell."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench.executors.process import marked_processes
from bench.records.store import ResultStore
from tests.test_cli import BENCH, SWEEP_FAST, bench
from tests.test_sweep import _tatoeba_dir

ray = pytest.importorskip("ray", reason='the ray extra is not installed (pip install -e ".[ray]")')
# one worker runs every Ray test (pytest -n: --dist loadgroup), so that two local Ray instances never start at once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def _args(model, data, out, backends="eager,onnx,torchscript", *extra, executor="ray"):
    return ["sweep", "--executor", executor, "--models", str(model), "--backends", backends, "--tasks", "tatoeba",
            "--langs", "de", "--batch-sizes", "2", "--seq-lens", "16", "--data-dir", str(data), "--out", str(out),
            *SWEEP_FAST, *extra]


def _cell_processes(out: Path) -> list[tuple[int, int]]:
    """(pid, parent pid) of every running `python -m bench.executors.cell` process of the sweep writing to `out`
    (never another test's sweep: killing its Ray worker would fail the wrong cell)."""
    found, ours = [], set(marked_processes(str(out.resolve())))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) not in ours:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if b"bench.executors.cell" in cmdline:
            ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
            found.append((int(entry.name), ppid))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie awaiting its reaper counts as gone)."""
    try:
        state = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return "Z" not in state.split()[1]


def _shape(value):
    """The nested key structure of a record (values' types ignored)."""
    if isinstance(value, dict):
        # Ray sets OMP_NUM_THREADS (and the like) to a task's CPUs: env_vars records it, so its keys differ
        return {k: _shape(v) for k, v in value.items() if k not in ("executor", "traceback", "env_vars")}
    return None


def test_ray_sweep_records_like_local_survives_a_killed_worker_and_retries_it(tiny_encoder, tmp_path):
    data, out = _tatoeba_dir(tmp_path), tmp_path / "runs" / "ray"
    proc = subprocess.Popen([BENCH, *_args(tiny_encoder, data, out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    victim = None
    deadline = time.time() + 240
    while victim is None and time.time() < deadline and proc.poll() is None:
        for pid, ppid in _cell_processes(out):
            parent = Path(f"/proc/{ppid}/cmdline").read_bytes() if Path(f"/proc/{ppid}").exists() else b""
            if b"ray" in parent or b"default_worker" in parent:
                victim = (pid, ppid)
                break
        time.sleep(0.1)
    assert victim, "no cell ran under a Ray worker"
    os.kill(victim[1], signal.SIGKILL)  # the Ray worker running the cell, mid-cell
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-2000:]
    assert not _alive(victim[0]), "the killed worker's cell process outlived it"
    assert not marked_processes(str(out.resolve())), "a process of the killed worker's cell outlived it"
    records = {r["cell_id"]: r for r in ResultStore(out).read()}
    assert len(records) == 3
    failed = [r for r in records.values() if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"].startswith("ray: "), (victim, [r.get("error") for r in failed],
                                                                          stderr[-1500:])
    assert failed[0]["error_kind"] == "crash"
    ok = [r for r in records.values() if r["status"] == "ok"]
    for r in ok:
        assert r["executor"]["name"] == "ray" and r["executor"]["node_id"] and r["executor"]["assigned"]["CPU"] == 1.0
        assert r["accuracy"]["n_examples"] == {"de": 12} and r["performance"][0]["throughput"] > 0
        assert r["executor"]["started"] < r["executor"]["ended"] and r["dependencies"]["settings"]["threads"] == 1
    # cells that overlapped on the node are recorded as beside each other (by whichever the driver recorded later);
    # the killed worker's cell counts with the driver's window, submission to failure (its node and clock died)
    def window(r):
        e = r["executor"]
        return (e["started"], e["ended"]) if "started" in e else tuple(e["driver_window"])

    for r in ok:
        overlapping = {o["cell_id"] for o in records.values()
                       if o is not r and window(o)[0] < window(r)[1] and window(r)[0] < window(o)[1]}
        earlier = {c for c in overlapping if records[c]["timestamp"] < r["timestamp"]}
        assert earlier <= set(r["executor"]["ran_beside"]) <= overlapping, (r["cell_id"], r["executor"], overlapping)

    # the same cell through the local executor has the same record shape
    local = tmp_path / "runs" / "local"
    bench(*_args(tiny_encoder, data, local, ok[0]["backend"], executor="local"), check_rc=0)
    local_record = next(r for r in ResultStore(local).read() if r["cell_id"] == ok[0]["cell_id"])
    assert local_record["executor"]["name"] == "local"
    assert _shape(local_record) == _shape(ok[0])

    # resume: only the failed cell runs again
    bench(*_args(tiny_encoder, data, out), "--retry-failed", check_rc=0)
    after = {r["cell_id"]: r for r in ResultStore(out).read()}
    assert all(r["status"] == "ok" for r in after.values()), {k: r.get("error") for k, r in after.items()}
    for r in ok:
        assert after[r["cell_id"]]["timestamp"] == r["timestamp"]  # finished cells were not redone


def test_a_cell_no_node_can_hold_fails_at_once(tiny_encoder, tmp_path):
    data, out = _tatoeba_dir(tmp_path), tmp_path / "runs" / "big"
    proc = bench(*_args(tiny_encoder, data, out, "eager"), "--threads", "64", check_rc=0)  # the last --threads wins
    (record,) = ResultStore(out).read()
    assert record["status"] == "failed" and "no node of the Ray cluster can hold this cell" in record["error"]
    assert "lower --threads" in record["error"], proc.stderr


def test_exclusive_runs_one_cell_per_node_at_a_time(tiny_encoder, tmp_path):
    """--exclusive: the driver pins each cell to a free node, so no two cells' runs overlap on one node (the local
    instance has this machine's physical cores, and each cell reserves only --threads 1 of them)."""
    data, out = _tatoeba_dir(tmp_path), tmp_path / "runs" / "exclusive"
    bench(*_args(tiny_encoder, data, out, "eager,torchscript"), "--exclusive", check_rc=0)
    # a cell Ray failed has no start time: sort it first, so that the next assertion prints Ray's reason
    records = sorted(ResultStore(out).read(), key=lambda r: r["executor"].get("started", 0))
    assert [r["status"] for r in records] == ["ok", "ok"], [r.get("error") for r in records]
    assert all(r["executor"]["exclusive"] and r["executor"]["ran_beside"] == [] for r in records)
    first, second = records
    assert first["executor"]["node_id"] == second["executor"]["node_id"]
    assert first["executor"]["ended"] <= second["executor"]["started"]  # one after the other on the node


def test_a_cell_whose_worker_died_counts_as_beside_every_cell_that_overlapped_its_window():
    """Its node and clock died with the worker: the driver's window (submission to failure) stands in, on any node."""
    from bench.executors.ray_cluster import _overlaps

    ran: list = []
    assert _overlaps({"node_id": "A", "started": 0.0, "ended": 10.0}, "first", ran) == []
    assert _overlaps({"driver_window": [5.0, 20.0]}, "died", ran) == []  # a failed cell is flagged by no one
    assert _overlaps({"node_id": "B", "started": 12.0, "ended": 30.0}, "other-node", ran) == ["died"]
    assert _overlaps({"node_id": "A", "started": 9.0, "ended": 11.0}, "same-node", ran) == ["first", "died"]
    assert _overlaps({"node_id": "A", "started": 21.0, "ended": 25.0}, "after", ran) == []
