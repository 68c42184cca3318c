"""Run a function in a fresh spawned process: its peak memory is then its own (the high-water mark
of that process), a crash cannot take the caller down, and no state leaks between measurements.

Peak memory on Linux is VmHWM from /proc/self/status, not getrusage's ru_maxrss: ru_maxrss survives exec, so
a spawned child would report its parent's high-water mark (a child of a parent that had touched 400 MB
reported 416 MB while VmHWM said 16 MB). VmHWM can also be reset (`reset_peak_rss`), which separates a
process's load peak from its inference peak."""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import sys
import traceback
from pathlib import Path


class IsolatedCrash(RuntimeError):
    """The isolated process died (killed, out of memory, segfault) before returning."""


PROC_STATUS, PROC_CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _vm_hwm_mb() -> float | None:
    try:
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_scope() -> str:
    """What `peak_rss_mb` measures on this system, for records and reports."""
    if _vm_hwm_mb() is not None:
        return "VmHWM: this process's resident high-water mark (Linux), since start or the last reset"
    return "ru_maxrss: the process's resident high-water mark as getrusage reports it (may include a parent's)"


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark in MiB (see the module's note on what it includes)."""
    hwm = _vm_hwm_mb()
    if hwm is not None:
        return hwm
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # macOS: bytes; elsewhere KiB


def reset_peak_rss() -> bool:
    """Reset the high-water mark to the current resident size (Linux: writing 5 to /proc/self/clear_refs).
    False where that is not possible; the peak then still counts from the process's start."""
    try:
        PROC_CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _vm_hwm_mb() is not None


PARENT_PID_VAR = "STILTS_BENCH_PARENT_PID"  # set by a launcher for the process it starts (bench.executors.process)


def name_process(name: str) -> None:
    """Show `name` (15 characters at most) as this process's name in ps/top and /proc/PID/comm, so that a user
    (and a test) can tell a cell from its export or timing child. Linux only; elsewhere nothing happens."""
    try:
        Path("/proc/self/comm").write_text(name[:15])
    except OSError:
        pass


def _isolated_start(parent: int, name: str) -> None:
    die_with_parent(parent)
    name_process(name)


def die_with_parent(expected_parent: int | None = None) -> None:
    """Linux: this process is SIGKILLed when the process that started it dies, so a killed driver, Ray worker or
    cell takes its whole tree with it (each process of the tree calls this for itself at its start: no
    `preexec_fn`, which can deadlock in threaded parents such as Ray workers). `expected_parent`: the pid that
    started us; if it is already gone (we were re-parented before the call), exit at once."""
    if sys.platform != "linux":
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)  # the parent died before the death signal was armed: nobody waits for our result


class ChildTraceback(Exception):
    """The traceback of an exception raised in an isolated process (attached as the re-raised exception's cause)."""


def _isolated_main(conn, parent: int, name: str, fn, args, kwargs) -> None:
    _isolated_start(parent, name)
    try:
        outcome = ("ok", fn(*args, **kwargs), "")
    except BaseException as e:  # noqa: BLE001 - every failure travels back to the caller, which re-raises it
        outcome = ("error", e, traceback.format_exc())
    try:
        conn.send(outcome)
    except Exception as e:  # noqa: BLE001 - an unpicklable result or exception
        conn.send(("error", RuntimeError(f"{fn.__name__}'s {outcome[0]} could not be sent back: {e}"), outcome[2]))
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Why os._exit: the result is sent and nothing else is owed; an orderly interpreter exit after torch, OpenVINO
    # and ONNX Runtime spends 1.5-3 s tearing modules down (measured: 4.8 s per call through
    # concurrent.futures' pool, 0.1 s this way), paid once per timing point of every sweep cell.
    os._exit(0)


class IsolatedTimeout(IsolatedCrash):
    """The isolated process did not answer within its time limit; it was killed."""


def run_isolated(fn, *args, **kwargs):
    """Call `fn(*args, **kwargs)` in a new spawned process and return its result; exceptions propagate (with
    the child's traceback as their cause). The process dies with its caller (die_with_parent) and stays in the
    caller's process group, so ending a sweep cell's group ends it too. A child that dies without answering
    raises IsolatedCrash."""
    return run_isolated_within(None, fn, *args, **kwargs)


def run_isolated_within(limit_s: float | None, fn, *args, **kwargs):
    """`run_isolated` with a time limit: a child that has not answered after `limit_s` seconds (None: no limit)
    is killed and IsolatedTimeout raised, so that a hung process cannot hang its caller."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_isolated_main, name=f"stilts:{fn.__name__}",
                       args=(sender, os.getpid(), f"stilts:{fn.__name__}", fn, args, kwargs))
    proc.start()
    sender.close()  # the child holds the only writing end: its death reads as end-of-file here
    try:
        if limit_s is not None and not receiver.poll(limit_s):
            # raised inside the try: the handler below kills the child and waits for it
            raise IsolatedTimeout(f"{fn.__name__} did not finish within {limit_s:g} s (its process was killed)")
        status, value, child_traceback = receiver.recv()
    except EOFError:
        proc.join()
        raise IsolatedCrash(f"the worker process died while running {fn.__name__} (killed, out of memory or "
                            f"crashed; exit code {proc.exitcode})") from None
    except BaseException:  # interrupted while waiting: the child must not outlive this call
        proc.kill()
        proc.join()
        raise
    finally:
        receiver.close()
    proc.join()  # it exits right after answering
    if status == "error":
        raise value from ChildTraceback(child_traceback)
    return value


def gpu_process_memory_mb() -> tuple[float | None, str]:
    """Device memory this process holds now, from NVML (every allocator: torch's caching allocator, ONNX
    Runtime's arena, cuBLAS workspaces), with what was measured or why not. Arenas do not shrink, so read after
    the timed iterations it bounds their peak from below; torch's own peak is torch.cuda.max_memory_allocated."""
    import os

    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed (the gpu extra installs it)"
    try:
        pynvml.nvmlInit()
        try:
            import torch

            uuid = str(getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", "") or "")
            handle = (pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}" if uuid and not uuid.startswith("GPU-") else uuid)
                      if uuid else pynvml.nvmlDeviceGetHandleByIndex(0))
            for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == os.getpid() and proc.usedGpuMemory is not None:
                    return proc.usedGpuMemory / 2**20, "NVML: device memory of this process after timing"
            return None, "NVML lists no memory for this process (a container may hide its pid)"
        finally:
            pynvml.nvmlShutdown()
    except pynvml.NVMLError as e:
        return None, f"NVML error: {e}"
