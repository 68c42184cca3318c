"""Harness pieces on known inputs: statistics, synthetic inputs, atomic records. No timing asserts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from bench.timing.harness import TimingConfig, median_ci, summarize, time_runner
from export.base import Runner
from export.inputs import TokenSpec, synthetic_batch
from bench.records.run_records import load_records, save_record
from models.files import write_json_atomic

SPEC = TokenSpec(n_pieces=250002, bos=0, eos=2, pad=1, specials=frozenset({0, 1, 2, 3, 250001}))


def test_summary_statistics_by_hand():
    lat = np.array([0.010, 0.020, 0.030, 0.040, 0.100])
    s = summarize(lat, batch_size=4, seq_len=128, warmup=2)
    assert s["latency_ms"]["p50"] == pytest.approx(30.0)
    assert s["latency_ms"]["p90"] == pytest.approx(76.0)  # linear interpolation between 40 and 100
    assert s["latency_ms"]["mean"] == pytest.approx(40.0)
    assert s["throughput"] == pytest.approx(4 * 5 / 0.2)
    assert s["tokens_per_s"] == pytest.approx(4 * 5 / 0.2 * 128)
    assert s["iterations"] == 5 and s["warmup_iterations"] == 2


def test_median_ci_brackets_the_median():
    rng = np.random.default_rng(0)
    lat = rng.normal(10, 1, size=200)
    low, high = median_ci(lat)
    assert low < np.median(lat) < high and high - low < 1.0
    assert median_ci(np.array([1.0, 2.0])) is None


class CountingRunner(Runner):
    """A runner that only counts: the harness's loop logic, with no model behind it."""
    timer = "wall"

    def __init__(self):
        self.calls, self.syncs = 0, 0

    def forward(self, prepared):
        self.calls += 1

    def synchronize(self):
        self.syncs += 1


def test_time_runner_honours_warmup_and_minimum_count():
    runner = CountingRunner()
    cfg = TimingConfig(warmup_iters=3, warmup_min_s=0.0, min_iters=7, min_time_s=0.0, max_time_s=10)
    lat, warmup = time_runner(runner, None, cfg)
    assert warmup == 3 and len(lat) == 7
    assert runner.calls == 10 and runner.syncs == 10  # every timed call is synchronised


def test_synthetic_batch_respects_special_and_pad_ids():
    batch = synthetic_batch(SPEC, batch_size=6, seq_len=20, seed=3, ragged=True)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == mask.shape == (6, 20) and ids.dtype == np.int64
    assert (ids[:, 0] == 0).all()
    lengths = mask.sum(1)
    assert lengths[0] == 20 and lengths.min() >= 2
    for row, n in enumerate(lengths):
        assert ids[row, n - 1] == 2
        assert (ids[row, n:] == 1).all() and (mask[row, :n] == 1).all()
        inner = ids[row, 1 : n - 1]
        assert ((inner >= 4) & (inner < 250002) & (inner != 250001)).all()
    again = synthetic_batch(SPEC, batch_size=6, seq_len=20, seed=3, ragged=True)
    np.testing.assert_array_equal(again["input_ids"], ids)


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object.__new__(type("Unserialisable", (), {"__str__": None}))})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


def test_records_validate_and_load(tmp_path):
    from bench.records.schema import SchemaError

    with pytest.raises(SchemaError, match="performance lacks .*throughput"):
        save_record(tmp_path, {"kind": "performance", "model": "x"})
    record = performance_record_for_tests()
    save_record(tmp_path, record)
    with pytest.raises(SchemaError, match=r"performance.throughput must be float, not str"):
        save_record(tmp_path, {**record, "throughput": "fast"})
    frame = load_records(tmp_path)
    assert frame.loc[0, "latency_ms.p50"] == 1.0 and frame.loc[0, "backend"] == "onnx"
    assert frame.loc[0, "env.cpu.isa.avx2"] in (True, False)  # every record names the CPU's instruction sets


def performance_record_for_tests(**overrides) -> dict:
    from bench.records.env import collect_env
    from bench.records.schema import performance_record

    latency = {"p50": 1.0, "p90": 1.0, "p99": 1.0, "mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0, "p50_ci95": None}
    fields = dict(model="m", checkpoint="/m", trained=True, backend="onnx", options={}, device="cpu", batch_size=8,
                  seq_len=128, input={"kind": "synthetic", "padding_fraction": 0.0}, throughput=10.0,
                  tokens_per_s=1280.0, latency_ms=latency, iterations=20, warmup_iterations=5, timing_config={},
                  peak_memory_mb=1.0, memory={}, size_mb=2.0, export={}, load_time_s=0.1, parity={}, accuracy={},
                  speedup=None, baseline=None, threads={}, env=collect_env(), command="test")
    return performance_record(**{**fields, **overrides})


def _touch_then_reset(mib: int) -> tuple[float, float, bool]:
    """In a spawned process: touch `mib` MiB, free it, read the peak, reset it, read it again."""
    import numpy as np

    from export.isolate import peak_rss_mb, reset_peak_rss

    ballast = np.ones(mib * 2**20 // 8)
    del ballast
    before = peak_rss_mb()
    reset = reset_peak_rss()
    return before, peak_rss_mb(), reset


needs_vmhwm = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc (VmHWM)")


@needs_vmhwm
def test_a_spawned_process_reports_its_own_peak_not_its_parents():
    from export.isolate import peak_rss_mb, run_isolated

    ballast = np.ones(400 * 2**20 // 8)  # the parent touches 400 MiB
    parent = peak_rss_mb()
    child = run_isolated(peak_rss_mb)
    del ballast
    # ru_maxrss, which survives exec, made the child report >= 400 MiB here; VmHWM is the child's own
    assert parent >= 400 and child < parent - 250, (parent, child)


@needs_vmhwm
def test_reset_separates_the_load_peak_from_the_inference_peak():
    from export.isolate import run_isolated

    before, after, reset = run_isolated(_touch_then_reset, 300)
    assert reset and before - after > 250, (before, after)


def _fail_with_user_error(message: str) -> None:
    from models.errors import UserError

    raise UserError(message)


def _die_silently() -> None:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def _own_pid() -> int:
    import os

    return os.getpid()


def test_an_isolated_call_past_its_time_limit_is_killed_and_says_so():
    import psutil

    from export.isolate import IsolatedCrash, IsolatedTimeout, run_isolated_within

    # without the limit the child would answer None after 120 s and nothing would be raised
    with pytest.raises(IsolatedTimeout, match=r"sleep did not finish within 2 s") as raised:
        run_isolated_within(2.0, time.sleep, 120)
    assert isinstance(raised.value, IsolatedCrash)
    assert all("resource_tracker" in " ".join(c.cmdline()) for c in psutil.Process().children())
    assert run_isolated_within(60.0, os.getpid) != os.getpid()  # within its limit: the answer as usual


def test_an_isolated_call_returns_raises_or_reports_its_death_and_leaves_no_process():
    import psutil

    from export.isolate import ChildTraceback, IsolatedCrash, run_isolated
    from models.errors import UserError

    pid = run_isolated(_own_pid)
    assert pid != os.getpid() and not psutil.pid_exists(pid)  # a fresh process, gone once it answered
    with pytest.raises(UserError, match="no such language") as raised:
        run_isolated(_fail_with_user_error, "no such language")
    assert isinstance(raised.value.__cause__, ChildTraceback) and "_fail_with_user_error" in str(raised.value.__cause__)
    with pytest.raises(IsolatedCrash, match=r"died while running _die_silently .*exit code -9"):
        run_isolated(_die_silently)
    # multiprocessing's one resource tracker per parent is the only process left
    assert all("resource_tracker" in " ".join(c.cmdline()) for c in psutil.Process().children())
