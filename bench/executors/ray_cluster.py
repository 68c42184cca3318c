"""Cells as Ray tasks: each requests its resources, runs its cell in a fresh process on whichever node Ray
places it, and returns the result to the driver, which alone writes results.jsonl (as results arrive).

Placement rule: a cell's threads are fixed by the plan (the sweep's --threads, default the driver's physical
cores), the same on every node, and the cell reserves exactly that many Ray CPUs there: a node runs at most
(its CPUs / threads) cells at once, and a bigger node is never oversubscribed by a cell that counts its cores
itself. A CUDA cell reserves one GPU (Ray sets CUDA_VISIBLE_DEVICES) and its threads' CPUs. `--exclusive` runs one
cell per node at a time (the driver pins each cell to a free node). Each record keeps the node, host, resources,
start and end of its cell (`executor`), and `executor.ran_beside` names the cells that ran on the same node at the
same time (the report flags them).

A killed Ray worker takes its cell's processes with it (each arms a parent-death signal for itself:
bench.executors.process); no `preexec_fn` runs in Ray's threaded workers.

Artifacts and data across nodes: a cell's spec carries absolute paths (checkpoint, --data-dir). Put them on a
filesystem every node mounts at the same path; otherwise a node lacking them records a failed cell naming
the missing path. Each node exports into its own cache (~/.cache/stilts-bench or $STILTS_BENCH_CACHE), keyed
by checkpoint, options and library versions, so nodes with different installs never share an artifact."""

from __future__ import annotations

import sys
import time

from bench.executors.base import CellJob, Executor
from bench.executors.process import run_cell_process, where
from models.errors import UserError


def _run_on_node(spec: dict, timeout: float | None, resources: dict, mark: str) -> dict:
    """The Ray task: runs in a Ray worker (one call per worker process), launches the cell's own process."""
    import ray

    started, t0 = time.time(), time.perf_counter()
    result = run_cell_process(spec, timeout, mark)
    result.setdefault("cell_seconds", time.perf_counter() - t0)
    context = ray.get_runtime_context()
    result["executor"] = {"name": "ray", **where(), "node_id": context.get_node_id(),
                          "node_ip": ray.util.get_node_ip_address(), "resources": resources,
                          "assigned": {k: float(v) for k, v in context.get_assigned_resources().items()},
                          "started": started, "ended": time.time()}
    return result


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, local_cpus: int | None = None, exclusive: bool = False):
        self.address, self.local_cpus, self.exclusive = address, local_cpus, exclusive

    def _connect(self):
        try:
            import ray
        except ImportError:
            raise UserError('--executor ray needs Ray: pip install -e ".[ray]"') from None
        if ray.is_initialized():
            return ray, False
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                from bench.records.env import default_threads

                ray.init(num_cpus=self.local_cpus or default_threads(), include_dashboard=False,
                         log_to_driver=False, object_store_memory=80 * 2**20)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise UserError(f"cannot connect to {where}: {str(e).splitlines()[0][:200]}") from None
        return ray, True

    def run(self, jobs: list[CellJob], finished, log) -> None:
        from tqdm import tqdm

        if not jobs:
            return
        ray, started = self._connect()
        try:
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            task = ray.remote(max_calls=1, max_retries=0)(_run_on_node)  # a fresh worker per cell, no re-runs
            queue = []
            for job in jobs:
                reason = _unplaceable(job.resources, nodes)
                if reason:  # Ray would wait forever for a node that cannot exist: fail the cell now
                    finished(job, {"status": "failed", "error": reason, "error_kind": "user", "cell_seconds": 0.0,
                                   "executor": {"name": self.name, "resources": job.resources}})
                else:
                    queue.append(job)
            free = [n for n in nodes] if self.exclusive else None  # --exclusive: nodes without a cell
            pending: dict = {}

            def submit() -> None:
                while queue:
                    options: dict = dict(queue[0].resources)
                    node = None
                    if free is not None:
                        node = next((n for n in free if _fits(queue[0].resources, n)), None)
                        if node is None:
                            return  # every node that can hold the next cell is busy
                        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                        free.remove(node)
                        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                    job = queue.pop(0)
                    pending[task.options(**options).remote(job.spec, job.timeout, job.resources, job.mark)] = \
                        (job, node, time.perf_counter())

            submit()
            bar = tqdm(total=len(queue) + len(pending), desc="sweep (ray)", unit="cell", file=sys.stderr,
                       dynamic_ncols=True)
            failed, per_node, ran = 0, {}, []
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
                for ref in ready:
                    job, node, submitted = pending.pop(ref)
                    if node is not None:
                        free.append(node)
                    result = _result(ray, ref, job, time.perf_counter() - submitted)
                    failed += result.get("status") != "ok"
                    host = result["executor"].get("hostname", "?")
                    per_node[host] = per_node.get(host, 0) + 1
                    result["executor"]["exclusive"] = self.exclusive
                    result["executor"]["ran_beside"] = _overlaps(result["executor"], job.cell["cell_id"], ran)
                    finished(job, result)
                    bar.update(1)
                submit()
                bar.set_postfix_str(f"running {len(pending)}, failed {failed}, "
                                    + ", ".join(f"{h}: {n} done" for h, n in per_node.items()))
            bar.close()
        finally:
            if started:
                ray.shutdown()


def _overlaps(executor: dict, cell_id: str, ran: list) -> list[str]:
    """Cells that ran on the same node while this one ran (among those finished so far; `ran` is extended; the
    report's summary names them). A cell whose worker died has no node or clock of its own: it counts with the
    driver's window from its submission to its failure, beside a cell of any node (it may have shared this one)."""
    node, start, end = executor.get("node_id"), executor.get("started"), executor.get("ended")
    if start is None or end is None:
        start, end = executor.get("driver_window", (None, None))
        if start is not None:
            ran.append((None, start, end, cell_id))
        return []
    beside = [other for other_node, s, e, other in ran if other_node in (node, None) and s < end and start < e]
    ran.append((node, start, end, cell_id))
    return beside


def _result(ray, ref, job: CellJob, seconds: float) -> dict:
    """The cell's result, or a failed cell with Ray's reason when its worker or node died (`seconds`: since
    submission, queueing included: the worker's own clock died with it)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        reason = str(e).strip().splitlines()
        kind = e.__class__.__name__
        text = next((line for line in reason if line.strip()), kind)
        return {"status": "failed", "error": f"ray: {kind}: {text}"[:2000], "error_kind": "crash",
                "cell_seconds": seconds, "executor": {"name": "ray", "resources": job.resources,
                                                       "driver_window": [time.time() - seconds, time.time()]}}


def _fits(resources: dict, node: dict) -> bool:
    have = node.get("Resources", {})
    return have.get("CPU", 0) >= resources.get("num_cpus", 0) and have.get("GPU", 0) >= resources.get("num_gpus", 0)


def _unplaceable(resources: dict, nodes: list[dict]) -> str | None:
    if any(_fits(resources, n) for n in nodes):
        return None
    largest = max((n.get("Resources", {}).get("CPU", 0) for n in nodes), default=0)
    gpus = max((n.get("Resources", {}).get("GPU", 0) for n in nodes), default=0)
    return (f"no node of the Ray cluster can hold this cell ({resources}; largest node: {largest:g} CPUs, "
            f"{gpus:g} GPUs): lower --threads or add a node with more resources")
