"""Run a function in a fresh spawned process: its peak memory is then its own (the high-water mark
of that process), a crash cannot take the caller down, and no state leaks between measurements."""

from __future__ import annotations

import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool


class IsolatedCrash(RuntimeError):
    """The isolated process died (killed, out of memory, segfault) before returning."""


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_isolated(fn, *args, **kwargs):
    """Call `fn(*args, **kwargs)` in a new process and return its result; exceptions propagate."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx, max_tasks_per_child=1) as pool:
        try:
            return pool.submit(fn, *args, **kwargs).result()
        except BrokenProcessPool as e:
            raise IsolatedCrash(f"the worker process died while running {fn.__name__} "
                                "(killed, out of memory or crashed)") from e
