"""Cells one after another on this machine, each in its own process (the default executor)."""

from __future__ import annotations

import sys
import time

from bench.executors.base import CellJob, Executor
from bench.executors.process import run_cell_process, where


class LocalExecutor(Executor):
    name = "local"

    def run(self, jobs: list[CellJob], finished, log) -> None:
        from tqdm import tqdm

        bar = tqdm(jobs, desc="sweep", unit="cell", file=sys.stderr, dynamic_ncols=True)
        for job in bar:
            bar.set_postfix_str(job.cell["cell_id"])
            t0 = time.perf_counter()
            result = run_cell_process(job.spec, job.timeout)
            result.setdefault("cell_seconds", time.perf_counter() - t0)
            result["executor"] = {"name": self.name, **where(), "resources": job.resources}
            finished(job, result)
