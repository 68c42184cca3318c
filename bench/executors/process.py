"""One sweep cell in a fresh process (`python -m bench.executors.cell SPEC RESULT`), as every executor runs it: timing
isolation comes from the process, not from whoever launched it.

No process outlives its cell. The cell starts in a session (and process group) of its own, every process of its
tree carries the sweep's and the cell's mark in its environment, and each one arms a parent-death signal for
itself (export.isolate.die_with_parent):
- a finished, failed or timed-out cell: its whole process group is killed, then any process still carrying the
  cell's mark (one that left the group) is killed and waited for;
- a killed launcher (the driver, a Ray worker): the cell dies with it, and its timing child with the cell;
- before a cell starts, the local executor looks for any process of the same sweep and refuses to time beside
  one that cannot be ended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from export.isolate import PARENT_PID_VAR

SWEEP_MARK, CELL_MARK = "STILTS_BENCH_SWEEP", "STILTS_BENCH_CELL"  # environment variables every cell process carries


def marked_processes(sweep: str, cell: str | None = None) -> list[int]:
    """Pids of the live processes (zombies excluded) whose environment carries this sweep's mark (and this cell's,
    when given). Reads /proc: processes of other users are invisible unless run as root, which is enough for the
    processes a sweep starts itself."""
    wanted = [f"{SWEEP_MARK}={sweep}".encode()] + ([f"{CELL_MARK}={cell}".encode()] if cell is not None else [])
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and all(w in environ for w in wanted):
            found.append(int(entry.name))
    return found


def end_processes(pids: list[int], group: int | None = None, wait_s: float = 10.0) -> list[int]:
    """SIGKILL a process group and the given pids, then wait until they are gone. Returns the pids still alive."""
    if group is not None:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + wait_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _running(p)]
        if alive:
            time.sleep(0.05)
    return alive


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def run_cell_process(spec: dict, timeout: float | None, sweep: str) -> dict:
    """Run one cell and end every process it started. `sweep`: the mark its processes carry (the run directory)."""
    cell = spec["cell_id"]
    with tempfile.TemporaryDirectory(prefix="stilts-cell-") as tmp:
        spec_path, result_path, stderr_path = Path(tmp) / "spec.json", Path(tmp) / "result.json", Path(tmp) / "err"
        spec_path.write_text(json.dumps(spec))
        t0 = time.perf_counter()
        env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", SWEEP_MARK: sweep, CELL_MARK: cell,
               PARENT_PID_VAR: str(os.getpid())}
        with open(stderr_path, "w") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "bench.executors.cell", str(spec_path), str(result_path)],
                                    stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True)
            try:
                proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:  # also on KeyboardInterrupt: the cell's tree never outlives this call
                left = end_processes(marked_processes(sweep, cell), group=proc.pid)
                proc.wait()
        if left:
            return {"status": "failed", "error_kind": "crash", "cell_seconds": time.perf_counter() - t0,
                    "error": f"process(es) {', '.join(map(str, left))} of this cell survived SIGKILL"}
        if timed_out:
            return {"status": "failed", "error": f"timed out after {timeout:g} s (its processes were ended)",
                    "error_kind": "timeout", "cell_seconds": time.perf_counter() - t0}
        if result_path.is_file():
            return json.loads(result_path.read_text())
        signal_number = -proc.returncode if proc.returncode < 0 else None
        why = (f"killed by signal {signal_number}" + (" (out of memory?)" if signal_number == 9 else "")
               if signal_number else f"exited with status {proc.returncode}")
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
        return {"status": "failed", "error": f"cell process {why}: {' | '.join(tail)}"[:2000],
                "error_kind": "crash", "cell_seconds": time.perf_counter() - t0}


def where() -> dict:
    """The machine a cell ran on, for its record."""
    import platform

    return {"hostname": platform.node(), "pid": os.getpid()}
