"""The executor interface: run sweep cells, each in a fresh process, and hand every result to the driver as it
arrives (the driver alone writes results.jsonl)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class CellJob:
    cell: dict  # cell_id, model, backend, task
    spec: dict  # what `python -m bench.executors.cell` reads (bench.executors.plan.sweep_cell_plan)
    timeout: float | None  # seconds before the cell is recorded as failed
    resources: dict  # what the cell needs: {"num_cpus": threads}, plus {"num_gpus": 1} for a CUDA cell
    mark: str  # the sweep's mark, carried by every process the cell starts (bench.executors.process)


class Executor:
    name: str

    def run(self, jobs: list[CellJob], finished: Callable[[CellJob, dict], None], log: Callable[[str], None]) -> None:
        """Run every job; call `finished(job, result)` in the driver for each, as it completes. `result` is the
        cell's fields (status, accuracy, performance, ..., and `executor`: where it ran). A cell that cannot run
        (its process or its worker died) is a result with status "failed", never an exception."""
        raise NotImplementedError
