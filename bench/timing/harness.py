"""The timing harness: warm-up, then timed iterations until both a minimum time and a minimum count
are reached (capped by a maximum time); per-iteration latencies give p50/p90/p99 and a bootstrap
confidence interval on the median. CUDA runners are timed with CUDA events and synchronised."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from bench.config import option


@dataclass
class TimingConfig:
    warmup_iters: int = option(5, "warm-up iterations, at least", flag="--warmup")
    min_iters: int = option(20, "minimum timed iterations per cell")
    min_time_s: float = option(5.0, "minimum timed seconds per cell", flag="--min-time")
    max_time_s: float = option(120.0, "stop timing a cell after this many seconds", flag="--max-time")
    warmup_min_s: float | None = None  # seconds of warm-up at least; None: min(1, min_time_s)

    def __post_init__(self):
        if self.warmup_min_s is None:
            self.warmup_min_s = min(1.0, self.min_time_s)

    def to_dict(self) -> dict:
        return asdict(self)


def _warm_up(runner, prepared, cfg: TimingConfig) -> int:
    n, start = 0, time.perf_counter()
    while n < cfg.warmup_iters or time.perf_counter() - start < cfg.warmup_min_s:
        runner.forward(prepared)
        runner.synchronize()
        n += 1
    return n


def _enough(n: int, elapsed: float, cfg: TimingConfig) -> bool:
    return (n >= cfg.min_iters and elapsed >= cfg.min_time_s) or elapsed >= cfg.max_time_s


def time_runner(runner, prepared, cfg: TimingConfig) -> tuple[np.ndarray, int]:
    """Per-iteration latencies in seconds, and the number of warm-up iterations run."""
    with runner.context():
        return _time(runner, prepared, cfg)


def _time(runner, prepared, cfg: TimingConfig) -> tuple[np.ndarray, int]:
    warmup = _warm_up(runner, prepared, cfg)
    latencies: list[float] = []
    start = time.perf_counter()
    if runner.timer == "cuda_events":
        import torch

        while not _enough(len(latencies), time.perf_counter() - start, cfg):
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            runner.forward(prepared)
            end.record()
            end.synchronize()  # the GPU clock is read only after the work it brackets has finished
            latencies.append(begin.elapsed_time(end) / 1e3)
    else:
        while not _enough(len(latencies), time.perf_counter() - start, cfg):
            t0 = time.perf_counter()
            runner.forward(prepared)
            runner.synchronize()
            latencies.append(time.perf_counter() - t0)
    return np.asarray(latencies), warmup


def median_ci(latencies: np.ndarray, confidence: float = 0.95) -> tuple[float, float] | None:
    """Bootstrap (percentile) confidence interval of the median; None with too few samples."""
    if len(latencies) < 5 or np.ptp(latencies) == 0:
        return None
    from scipy.stats import bootstrap

    res = bootstrap((latencies,), np.median, confidence_level=confidence, n_resamples=2000,
                    method="percentile", random_state=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(latencies: np.ndarray, batch_size: int, seq_len: int, warmup: int) -> dict:
    ms = latencies * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    ci = median_ci(ms)
    total = float(latencies.sum())
    sequences_per_s = batch_size * len(latencies) / total
    return {
        "throughput": sequences_per_s,  # sequences per second over all timed iterations
        "tokens_per_s": sequences_per_s * seq_len,
        "latency_ms": {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(ms.mean()),
                       "std": float(ms.std(ddof=1)) if len(ms) > 1 else 0.0, "min": float(ms.min()),
                       "max": float(ms.max()), "p50_ci95": list(ci) if ci else None},
        "iterations": len(latencies), "warmup_iterations": warmup, "timed_seconds": total,
    }


def speedup_ci(baseline: list[np.ndarray], variant: list[np.ndarray], confidence: float = 0.95,
               resamples: int = 2000, seed: int = 0) -> tuple[float, tuple[float, float] | None]:
    """Ratio of median latencies (baseline / variant: > 1 means the variant is faster) over interleaved
    repeats, each repeat a list of per-iteration latencies from its own process; and its bootstrap interval.

    Two-level bootstrap: resample repeats (processes differ: placement, allocator, frequency), then iterations
    within each chosen repeat; the ratio of the pooled medians is taken per resample. With one repeat per side
    the interval covers only the iteration-to-iteration noise."""
    rng = np.random.default_rng(seed)
    ratio = float(np.median(np.concatenate(baseline)) / np.median(np.concatenate(variant)))
    if min(len(baseline), len(variant)) < 1 or min(len(x) for x in baseline + variant) < 3:
        return ratio, None

    def resample(repeats: list[np.ndarray]) -> float:
        chosen = rng.integers(0, len(repeats), len(repeats))
        return float(np.median(np.concatenate([rng.choice(repeats[i], len(repeats[i])) for i in chosen])))

    draws = [resample(baseline) / resample(variant) for _ in range(resamples)]
    tail = (1 - confidence) / 2 * 100
    return ratio, (float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail)))
