"""Cells as Ray tasks: each requests its resources, runs its cell in a fresh process on whichever node Ray
places it, and returns the result to the driver, which alone writes results.jsonl (as results arrive).

Placement rule: a CPU cell requests `num_cpus = threads` (the sweep's --threads, default this machine's
physical cores), so a node runs at most (its CPUs / threads) cells at once. For undisturbed timings, give each
node as many Ray CPUs as one cell's threads per socket-sized slot (`ray start --num-cpus N`); the local
instance started here gets this machine's physical cores, so cells run one at a time. A CUDA cell requests
`num_gpus=1` (Ray sets CUDA_VISIBLE_DEVICES to its GPU) and one CPU. Each record keeps the node, host and
resources it ran with (`executor`).

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


def _run_on_node(spec: dict, timeout: float | None, resources: dict) -> dict:
    """The Ray task: runs in a Ray worker (one call per worker process), launches the cell's own process."""
    import ray

    t0 = time.perf_counter()
    result = run_cell_process(spec, timeout)
    result.setdefault("cell_seconds", time.perf_counter() - t0)
    context = ray.get_runtime_context()
    result["executor"] = {"name": "ray", **where(), "node_id": context.get_node_id(),
                          "node_ip": ray.util.get_node_ip_address(), "resources": resources,
                          "assigned": {k: float(v) for k, v in context.get_assigned_resources().items()}}
    return result


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, local_cpus: int | None = None):
        self.address, self.local_cpus = address, local_cpus

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
                from bench.env import default_threads

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
            pending, submitted = {}, {}
            for job in jobs:
                reason = _unplaceable(job.resources, nodes)
                if reason:  # Ray would wait forever for a node that cannot exist: fail the cell now
                    finished(job, {"status": "failed", "error": reason, "error_kind": "user", "cell_seconds": 0.0,
                                   "executor": {"name": self.name, "resources": job.resources}})
                    continue
                ref = task.options(**job.resources).remote(
                    job.spec, job.timeout, job.resources)
                pending[ref] = job
                submitted[ref] = time.perf_counter()
            bar = tqdm(total=len(pending), desc="sweep (ray)", unit="cell", file=sys.stderr, dynamic_ncols=True)
            failed, per_node = 0, {}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
                for ref in ready:
                    job = pending.pop(ref)
                    result = _result(ray, ref, job, time.perf_counter() - submitted.pop(ref))
                    failed += result.get("status") != "ok"
                    host = result["executor"].get("hostname", "?")
                    per_node[host] = per_node.get(host, 0) + 1
                    finished(job, result)
                    bar.update(1)
                bar.set_postfix_str(f"running {min(len(pending), _slots(jobs, nodes))}, failed {failed}, "
                                    + ", ".join(f"{h}: {n} done" for h, n in per_node.items()))
            bar.close()
        finally:
            if started:
                ray.shutdown()


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
                "cell_seconds": seconds, "executor": {"name": "ray", "resources": job.resources}}


def _unplaceable(resources: dict, nodes: list[dict]) -> str | None:
    def fits(node):
        have = node.get("Resources", {})
        return (have.get("CPU", 0) >= resources.get("num_cpus", 0)
                and have.get("GPU", 0) >= resources.get("num_gpus", 0))

    if any(fits(n) for n in nodes):
        return None
    largest = max((n.get("Resources", {}).get("CPU", 0) for n in nodes), default=0)
    gpus = max((n.get("Resources", {}).get("GPU", 0) for n in nodes), default=0)
    return (f"no node of the Ray cluster can hold this cell ({resources}; largest node: {largest:g} CPUs, "
            f"{gpus:g} GPUs): lower --threads or add a node with more resources")


def _slots(jobs: list[CellJob], nodes: list[dict]) -> int:
    need = max(job.resources.get("num_cpus", 1) for job in jobs) or 1
    return max(1, int(sum(n.get("Resources", {}).get("CPU", 0) for n in nodes) // need))
