"""Guards that hold on a noisy shared machine: speedups measured as ratios inside one session with
interleaved rounds, and parity that must not get worse than its recorded bound."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytest

from tests.benchmarks.conftest import load_backend, timed_call

BOUNDS = json.loads((Path(__file__).parent / "parity_bounds.json").read_text())

# Same-run speedup floors on the demo model, batch 8 x seq 128, 2 threads. Measured on the development
# CPU (AMD EPYC, 2 cores, AVX-512 VNNI): onnx-int8 4.4x eager, onnx fp32 2.1x. The floors sit far enough
# below those figures to survive a busy neighbour, yet fail if int8 kernels stop being used (which would
# put the ratio near or below 2x) or ONNX Runtime loses its fusions (near 1x).
SPEEDUP_FLOORS = {"onnx-int8": 2.5, "onnx": 1.3}
ROUNDS = 7


def interleaved_speedup(fast, slow, prepared_fast, prepared_slow, rounds: int = ROUNDS) -> float:
    """Median over rounds of (slow time / fast time), each round timing both back to back, so drift
    in machine load affects both sides of every ratio alike."""
    ratios = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        timed_call(slow, prepared_slow)
        t1 = time.perf_counter()
        timed_call(fast, prepared_fast)
        t2 = time.perf_counter()
        ratios.append((t1 - t0) / (t2 - t1))
    return statistics.median(ratios)


@pytest.mark.parametrize("name", sorted(SPEEDUP_FLOORS))
def test_same_run_speedup_over_eager(name, demo_checkpoint, parity_reference, fixed_batch):
    eager = load_backend("eager", demo_checkpoint, parity_reference)
    variant = load_backend(name, demo_checkpoint, parity_reference)
    pe, pv = eager.runner.prepare(fixed_batch), variant.runner.prepare(fixed_batch)
    for _ in range(2):
        timed_call(eager.runner, pe)
        timed_call(variant.runner, pv)
    speedup = interleaved_speedup(variant.runner, eager.runner, pv, pe)
    assert speedup >= SPEEDUP_FLOORS[name], f"{name} is only {speedup:.2f}x eager (floor {SPEEDUP_FLOORS[name]}x)"


@pytest.mark.parametrize("name", sorted(k for k in BOUNDS if not k.startswith("_")))
def test_parity_not_worse_than_recorded(name, demo_checkpoint, parity_reference):
    parity = load_backend(name, demo_checkpoint, parity_reference).parity
    bound = BOUNDS[name]
    assert parity["max_abs_diff"] <= bound["max_abs_diff"], parity
    assert parity["label_agreement"] >= bound["min_label_agreement"], parity
