"""Cells one after another on this machine, each in its own process (the default executor). Before each cell it
makes sure that no process of an earlier cell of this sweep is still running: a leftover would share the CPU with
the cell being timed."""

from __future__ import annotations

import sys
import time

from bench.executors.base import CellJob, Executor
from bench.executors.process import end_processes, marked_processes, run_cell_process, where


class LocalExecutor(Executor):
    name = "local"

    def run(self, jobs: list[CellJob], finished, log) -> None:
        from tqdm import tqdm

        bar = tqdm(jobs, desc="sweep", unit="cell", file=sys.stderr, dynamic_ncols=True)
        for job in bar:
            bar.set_postfix_str(job.cell["cell_id"])
            leftovers = marked_processes(job.mark)
            if leftovers:
                log(f"ending {len(leftovers)} leftover process(es) of this sweep before {job.cell['cell_id']}: "
                    f"{', '.join(map(str, leftovers))}")
                survivors = end_processes(leftovers)
                if survivors:  # never time beside them: the numbers would be wrong
                    finished(job, {"status": "failed", "error_kind": "crash", "cell_seconds": 0.0,
                                   "error": f"not run: process(es) {', '.join(map(str, survivors))} of an earlier "
                                            "cell survived SIGKILL and would share the CPU; end them, then resume",
                                   "executor": {"name": self.name, **where(), "resources": job.resources}})
                    continue
            started, t0 = time.time(), time.perf_counter()
            result = run_cell_process(job.spec, job.timeout, job.mark)
            result.setdefault("cell_seconds", time.perf_counter() - t0)
            result["executor"] = {"name": self.name, **where(), "resources": job.resources,
                                  "started": started, "ended": time.time()}
            finished(job, result)
