"""One timing round as a relay: a fresh process per variant, all loaded side by side, then timed **a few batches at
a time in turn** (batches 0-1 of every variant in the round's order, then 2-3, ...), one process computing while
the others wait on their pipe. Why not one variant's whole pass after another's: on this kind of VM the machine's
speed drifts by 10-20% within seconds (hypervisor steal and neighbours that /proc does not show), so passes seconds
apart read different machines; steps a fraction of a second apart read the same one, and the drift falls on both
sides of every ratio of the round.

Two ways one process could disturb the next are taken out, and what remains is measured: a process answers only
once its thread pools have stopped spinning (`_settle`: ONNX Runtime's spin after each call otherwise took ~1 s of
CPU per round from the variant after it, which read onnx at 1.05x eager instead of 1.3x), and each step starts
with one untimed call (the cores and caches warm again after the pause and another process's batch). Each process
reports the CPU it still used while others timed (`idle_cpu_s`) and how many steps did not settle (`unsettled`).
The round's `noise` is the CPU that processes other than the relay took while it timed (from /proc/stat)."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


# A relay step: one untimed call, then SLICE_BATCHES timed batches. Chosen on the demo's Tatoeba group (6 variants,
# 4 rounds each, Zen 3): 1 batch with no untimed call gave round-to-round spreads of 3-10% (the cores cool during
# the settle pause); 2 with the call, 2-4.5%; 4 with the call (and a settle window too short to see the spin),
# 3-7%.
SLICE_BATCHES = 2


@dataclass(frozen=True)
class RoundJob:
    device: str
    threads: int
    batches_paths: tuple[str, ...]  # the cell's timing sets (its scored sample, its grid points), which name the
    # artifact; timed as one list, in this order
    warmup: int = 3


def _own_cpu() -> float:
    return time.process_time()  # every thread of this process


def _machine_busy_s() -> float:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    busy = sum(fields[:3]) + sum(fields[5:7])  # user nice system + irq softirq (idle, iowait, steal apart)
    return busy / os.sysconf("SC_CLK_TCK")


def _settle(limit_s: float = 0.5, window_s: float = 0.012, quiet_s: float = 0.001) -> bool:
    """Wait until this process's threads have stopped spinning after their work (ONNX Runtime's pool spins ~45 ms
    after each call here, OpenMP's less), so that the next variant's batch does not compete with them: True once a
    `window_s` passes with under `quiet_s` of CPU, False after `limit_s`. The window spans three scheduler ticks
    because the kernel accounts a running thread's CPU per tick (4 ms here): a shorter one reads a spinning pool as
    quiet (measured)."""
    end, before = time.perf_counter() + limit_s, _own_cpu()
    while time.perf_counter() < end:
        time.sleep(window_s)
        now = _own_cpu()
        if now - before < quiet_s:
            return True
        before = now
    return False


def _timed_call(runner: Any, prepared: Any) -> float:
    t0 = time.perf_counter()
    runner.forward(prepared)
    runner.synchronize()
    return time.perf_counter() - t0


def _member_main(conn, parent: int, job: RoundJob) -> None:
    """A variant's process: load and prepare every batch (outside the clock), warm up, then time the slice of
    batches the conductor names (after one untimed call on its first batch), each call once more when it compiled
    a graph for a new shape, and wait for its threads to settle before answering."""
    from export.isolate import die_with_parent, name_process

    die_with_parent(parent)
    name_process("stilts:time_batches")
    try:
        from export.base import Artifact
        from export.registry import get_backend

        sets = [load_batches(Path(path)) for path in job.batches_paths]
        batches = [batch for set_batches, _, _ in sets for batch in set_batches]
        artifact = Artifact.read(Path(sets[0][1]["artifact"]))
        runner = get_backend(artifact.backend).load(artifact, job.device, job.threads)
        prepared = [runner.prepare({"input_ids": ids, "attention_mask": mask}) for ids, mask in batches]
        with runner.context():
            for _ in range(job.warmup):
                runner.forward(prepared[0])
                runner.synchronize()
            conn.send(("ready", [len(set_batches) for set_batches, _, _ in sets]))
            ready_cpu, idle, unsettled = _own_cpu(), 0.0, 0
            last_end = None
            while True:
                message = conn.recv()
                if message[0] == "end":
                    break
                start_cpu = _own_cpu()
                if last_end is not None:
                    idle += start_cpu - last_end
                took = []
                runner.forward(prepared[message[1][0]])  # untimed: see the module's docstring
                runner.synchronize()
                for n in message[1]:
                    graphs = runner.compilations()
                    took.append(_timed_call(runner, prepared[n]))
                    if runner.compilations() > graphs:  # it compiled a graph for a new shape: time it compiled
                        took[-1] = _timed_call(runner, prepared[n])
                unsettled += not _settle()
                last_end = _own_cpu()
                conn.send(("took", took))
        conn.send(("end", {"pid": os.getpid(), "threads": runner.threads(), "idle_cpu_s": idle, "unsettled": unsettled,
                           "own_cpu_s": _own_cpu() - ready_cpu}))
    except BaseException as e:  # noqa: BLE001 - the conductor reports it as this member's failed turn
        try:
            conn.send(("error", f"{type(e).__name__}: {e}"))
        except Exception:  # noqa: BLE001 - the pipe is gone: the conductor sees end-of-file
            pass
    conn.close()
    os._exit(0)  # as export.isolate: skip seconds of interpreter teardown


def load_batches(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict[str, Any], str]:
    """(input_ids int64, attention_mask int64) per sampled batch, the pass's totals and artifact, and a digest of the
    batches."""
    with np.load(path) as data:
        n = sum(1 for k in data.files if k.startswith("ids_"))
        digest = hashlib.sha256()
        batches = []
        for i in range(n):
            ids, lengths = data[f"ids_{i}"], data[f"lengths_{i}"]
            digest.update(ids.tobytes())
            mask = (np.arange(ids.shape[1])[None, :] < lengths[:, None]).astype(np.int64)
            batches.append((ids.astype(np.int64), mask))
        totals: dict[str, Any] = {k: int(data[k]) for k in ("examples", "sequences", "pass_batches")}
        totals["artifact"] = str(data["artifact"])
    return batches, totals, digest.hexdigest()[:16]


class _TurnFailed(Exception):
    pass


def relay_round(jobs: dict[str, RoundJob], order: list[str], min_time_s: float, limit_s: float | None,
                seed: int) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Time one round. `order`: the members (keys of `jobs`) in the order they load. Each step's order is a fresh
    permutation drawn from `seed`, so that no member always follows the same one (one fixed order put the eager
    control after OpenVINO in every step of every round and read it 5% slow). Whole passes over the sample are
    repeated until every member has timed `min_time_s` (the same passes for all). `limit_s` bounds each member's
    time in the round (loading and its batches): past it, that member's process is killed and the round goes on
    without it. Returns (results by member, failures by member); no process outlives the call."""
    ctx = multiprocessing.get_context("spawn")
    procs, conns, spent, failures = {}, {}, {m: 0.0 for m in order}, {}

    def ask(member: str, message: tuple | None, expect: str) -> Any:
        if message is not None:
            conns[member].send(message)
        t0 = time.perf_counter()
        left = None if limit_s is None else limit_s - spent[member]
        try:
            if left is not None and (left <= 0 or not conns[member].poll(left)):
                raise _TurnFailed(f"its turn did not finish within {limit_s:g} s (its process was killed)")
            kind, value = conns[member].recv()
        except (EOFError, OSError):
            raise _TurnFailed(f"its process died (killed, out of memory or crashed; exit code "
                              f"{procs[member].exitcode})") from None
        finally:
            spent[member] += time.perf_counter() - t0
        if kind != expect:
            raise _TurnFailed(value if kind == "error" else f"unexpected answer {kind!r}")
        return value

    def drop(member: str, why: str) -> None:
        failures[member] = why
        procs[member].kill()

    try:
        for member in order:
            conns[member], child = ctx.Pipe()
            proc = ctx.Process(target=_member_main, args=(child, os.getpid(), jobs[member]), name="stilts:time_batches")
            proc.start()
            procs[member] = proc  # only a started process is killed and joined below
            child.close()
        started = time.perf_counter()
        sizes: dict[str, int] = {}
        set_sizes: dict[str, list[int]] = {}  # batches per timing set, in the order the member loaded them
        for member in order:
            try:
                set_sizes[member] = ask(member, None, "ready")
                sizes[member] = sum(set_sizes[member])
            except _TurnFailed as e:
                drop(member, str(e))
        for member in sizes:  # loading ran side by side: each member is charged the wall time until all were ready
            spent[member] = time.perf_counter() - started
        seconds = {m: np.zeros(n) for m, n in sizes.items()}
        busy_before, own_before, wall_before = _machine_busy_s(), _own_cpu(), time.perf_counter()
        passes, steps = 0, np.random.default_rng(seed)
        # who timed just before whom, step by step: how evenly the neighbours fell (kept with each result)
        preceded_by: dict[str, dict[str, int]] = {m: {} for m in sizes}
        previous = None
        while any(m not in failures for m in sizes) and (
                passes == 0 or min(seconds[m].sum() for m in sizes if m not in failures) < min_time_s):
            for start in range(0, max(sizes.values(), default=0), SLICE_BATCHES):
                for member in [order[i] for i in steps.permutation(len(order))]:
                    if member in sizes and member not in failures and start < sizes[member]:
                        picked = list(range(start, min(start + SLICE_BATCHES, sizes[member])))
                        try:
                            seconds[member][picked] += ask(member, ("slice", picked), "took")
                            if previous is not None:
                                preceded_by[member][previous] = preceded_by[member].get(previous, 0) + 1
                            previous = member
                        except _TurnFailed as e:
                            drop(member, str(e))
            passes += 1
        wall = max(time.perf_counter() - wall_before, 1e-9)
        finals = {}
        for member in sizes:
            if member not in failures:
                try:
                    finals[member] = ask(member, ("end",), "end")
                except _TurnFailed as e:
                    drop(member, str(e))
        relay_cpu = sum(f["own_cpu_s"] for f in finals.values()) + _own_cpu() - own_before
        others = max(0.0, _machine_busy_s() - busy_before - relay_cpu)
        noise = {"wall_s": wall, "others_cpu_s": others, "others_cpu_cores": others / wall,
                 "load_avg_1m": os.getloadavg()[0]}
        results = {m: {"batch_seconds": (seconds[m] / passes).tolist(), "set_sizes": set_sizes[m],
                       "passes": passes, "pid": f["pid"],
                       "noise": noise, "idle_cpu_s": f["idle_cpu_s"], "unsettled": f["unsettled"],
                       "threads": f["threads"], "preceded_by": preceded_by[m]}
                   for m, f in finals.items()}
        return results, failures
    finally:
        for proc in procs.values():
            if proc.is_alive():
                proc.kill()
            proc.join()
        for conn in conns.values():
            conn.close()
