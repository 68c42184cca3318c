"""One sweep cell in a fresh process (`python -m bench.cell SPEC RESULT`), as every executor runs it: timing
isolation comes from the process, not from whoever launched it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _die_with_parent() -> None:
    """Linux: the cell process is killed when its launcher dies (a killed Ray worker must not leave an orphan
    cell running and timing beside the next one)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_cell_process(spec: dict, timeout: float | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="stilts-cell-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec))
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "bench.cell", str(spec_path), str(result_path)],
                                  capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"},
                                  preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "error": f"timed out after {timeout:g} s", "error_kind": "timeout"}
        if result_path.is_file():
            return json.loads(result_path.read_text())
        signal_number = -proc.returncode if proc.returncode < 0 else None
        why = (f"killed by signal {signal_number}" + (" (out of memory?)" if signal_number == 9 else "")
               if signal_number else f"exited with status {proc.returncode}")
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        return {"status": "failed", "error": f"cell process {why}: {' | '.join(tail)}"[:2000],
                "error_kind": "crash", "cell_seconds": time.perf_counter() - t0}


def where() -> dict:
    """The machine a cell ran on, for its record."""
    import platform

    return {"hostname": platform.node(), "pid": os.getpid()}
