"""One performance cell (artifact x device x batch size x sequence length), measured in its own
process: load (with its parity check), build inputs outside the timed path, time, read memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.timing.harness import TimingConfig, summarize, time_runner
from export.isolate import gpu_process_memory_mb, peak_rss_mb, peak_rss_scope, reset_peak_rss, run_isolated


@dataclass
class CellSpec:
    artifact_path: str
    device: str
    batch_size: int
    seq_len: int
    threads: int
    timing: TimingConfig = field(default_factory=TimingConfig)
    texts: list[str] | None = None  # real text to tokenise; None: synthetic token ids
    min_agreement: float | None = None  # parity bound; None: the backend's
    seed: int = 0


def time_point(variant, batch_size: int, seq_len: int, timing: TimingConfig, texts: list[str] | None = None,
               min_agreement: float | None = None) -> dict:
    """One timing point of a variant (bench.variants.prepare.Variant) in a fresh process of its own: how `bench run`
    and a sweep cell both time a shape (measure_cell's result)."""
    return run_isolated(measure_cell, CellSpec(str(variant.artifact.path), variant.device, batch_size, seq_len,
                                               variant.threads, timing, texts, min_agreement))


def _current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def load_with_parity(artifact, backend, device: str, threads: int, min_agreement: float | None = None):
    """Load a runner of `backend` (the artifact's, looked up once by the caller) and check it against the cached
    eager fp32 reference outputs. The parity record says whether the variant passed its bound (`min_agreement`,
    else the backend's); untrained weights are not gated (their nearest neighbours are near-ties)."""
    import time

    from bench.variants.parity import compare, load_reference_and_inputs

    t0 = time.perf_counter()
    runner = backend.load(artifact, device, threads)
    load_s = time.perf_counter() - t0
    checkpoint = artifact.checkpoint
    cached = load_reference_and_inputs(checkpoint, artifact.options.get("layer"))
    if cached is None:
        parity = {"status": "no reference outputs cached (run compute_reference first)"}
    else:
        reference, inputs = cached
        parity = compare(runner(inputs), reference, inputs["attention_mask"], checkpoint.head)
        bound = backend.min_agreement if min_agreement is None else min_agreement
        parity["min_agreement"] = bound
        parity["passed"] = parity["label_agreement"] >= bound - 1e-9 if checkpoint.trained else None
    return runner, parity, load_s


def parity_failure(parity: dict, backend: str) -> str | None:
    """One line when a variant failed its parity bound, else None."""
    if parity.get("passed") is False:
        return (f"{backend} fails its parity bound: predictions agree with eager fp32 on "
                f"{parity['label_agreement']:.0%} of the parity inputs (bound {parity['min_agreement']:.0%})")
    return None


def build_inputs(artifact, spec: CellSpec) -> dict:
    from export.inputs import TokenSpec, synthetic_batch, text_batch

    checkpoint = artifact.checkpoint
    if spec.texts:
        texts = [spec.texts[i % len(spec.texts)] for i in range(spec.batch_size)]
        return text_batch(checkpoint, texts, seq_len=spec.seq_len)
    return synthetic_batch(TokenSpec.of(checkpoint), spec.batch_size, spec.seq_len, seed=spec.seed)


def inference_peak_mb(memory: dict, device: str) -> float | None:
    """The figure `peak_memory_mb` reports: CPU, the timing process's inference high-water mark; CUDA, the
    process's device memory from NVML (every allocator, ONNX Runtime's included), else torch's allocator peak."""
    if device == "cuda":
        nvml = memory.get("gpu_process_mb")
        return nvml if nvml is not None else memory.get("cuda_max_allocated_mb")
    return memory["inference_peak_rss_mb"]


def measure_cell(spec: CellSpec) -> dict:
    from export.base import Artifact
    from export.registry import get_backend

    artifact = Artifact.read(Path(spec.artifact_path))
    backend = get_backend(artifact.backend)  # this process's one look-up
    rss_before = _current_rss_mb()
    runner, parity, load_s = load_with_parity(artifact, backend, spec.device, spec.threads, spec.min_agreement)
    rss_loaded = _current_rss_mb()
    memory = {"rss_before_load_mb": rss_before, "rss_after_load_mb": rss_loaded,
              "load_peak_rss_mb": peak_rss_mb(), "peak_scope": peak_rss_scope()}
    batch = build_inputs(artifact, spec)
    prepared = runner.prepare(batch)
    # From here the high-water mark counts inference only (inputs, warm-up, timed iterations), not loading.
    memory["inference_peak_is_separate"] = reset_peak_rss()
    if spec.device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    latencies, warmup = time_runner(runner, prepared, spec.timing)
    if spec.device == "cuda":
        import torch

        memory["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20  # torch's allocator only
        memory["gpu_process_mb"], memory["gpu_process_scope"] = gpu_process_memory_mb()  # every allocator
        free, total = torch.cuda.mem_get_info()
        memory["cuda_used_mb"] = (total - free) / 2**20  # the whole device, other processes included
    memory["inference_peak_rss_mb"] = peak_rss_mb()
    padding = float(1 - batch["attention_mask"].mean())
    return {"timing": summarize(latencies, spec.batch_size, spec.seq_len, warmup), "parity": parity,
            "latencies_s": latencies.tolist(),  # for same-run ratios across repeats (bench run --repeats)
            "memory": memory, "threads": runner.threads(), "runtime": _runtime(runner, backend, spec.device), "load_time_s": load_s,
            "input": {"kind": "text" if spec.texts else "synthetic", "padding_fraction": padding}}


def _runtime(runner, backend, device: str) -> dict:
    """Numerics and placement in force, and on CPU whether this CPU has the instructions the path is built for."""
    runtime = dict(runner.details())
    if device == "cpu":
        from bench.records.env import this_cpu_isa

        runtime["cpu_acceleration"] = backend.cpu_acceleration(this_cpu_isa())
    return runtime
