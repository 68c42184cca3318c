"""pytest-benchmark of every backend that runs here: a fixed real batch through the runner's timed path.
Stored runs compare across commits and dependency upgrades (`bench regress`)."""

from __future__ import annotations

import pytest

from bench.records.env import collect_env
from export.registry import BACKENDS, get_backend
from tests.benchmarks.conftest import BATCH_SIZE, SEQ_LEN, load_backend, timed_call

CPU_BACKENDS = [b for b in BACKENDS if "cpu" in get_backend(b).devices]


@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_backend_forward(benchmark, name, demo_checkpoint, parity_reference, fixed_batch):
    loaded = load_backend(name, demo_checkpoint, parity_reference)
    prepared = loaded.runner.prepare(fixed_batch)
    for _ in range(3):  # warm-up outside the measurement (compile and allocator warm-up)
        timed_call(loaded.runner, prepared)
    benchmark.group = f"demo bs{BATCH_SIZE} seq{SEQ_LEN}"
    env = collect_env()
    benchmark.extra_info.update({
        "backend": name, "batch_size": BATCH_SIZE, "seq_len": SEQ_LEN, "parity": loaded.parity,
        "size_mb": loaded.artifact.manifest["size_mb"], "threads": loaded.runner.threads(),
        "env": {"packages": env["packages"], "cpu": env["cpu"], "git_commit": env["git_commit"]},
    })
    benchmark.pedantic(timed_call, args=(loaded.runner, prepared), rounds=10, iterations=1, warmup_rounds=1)
