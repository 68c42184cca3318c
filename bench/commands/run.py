"""`bench run`: export (cached), check parity, and time one model on one or two backends over a grid of
batch sizes and sequence lengths; the speedup is the ratio to a baseline timed in the same invocation."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.config import (backend_option, backend_options_option, device_option, int_list, model_option, option,
                          threads_option)
from bench.records.env import collect_env
from bench.timing.harness import TimingConfig, speedup_ci
from bench.timing.measure import inference_peak_mb, time_point
from bench.records.run_records import save_record
from bench.records.schema import PerformanceRecord, performance_record
from bench.variants.prepare import Variant, choose_backend, prepare_variant
from models.errors import UserError

@dataclass
class RunConfig:
    model: str | None = model_option()
    backend: str = backend_option()
    device: str = device_option()
    options: dict = backend_options_option()
    batch_sizes: list[int] = option(help="batch size(s), e.g. 1,8", flag="--batch-size", parse=int_list,
                                    repeat=True, default_factory=lambda: [1])
    seq_lens: list[int] = option(help="sequence length(s), e.g. 128,256", flag="--seq-len", parse=int_list,
                                 repeat=True, default_factory=lambda: [128])
    baseline: str | None = option(None, "backend timed in the same run for `speedup` (e.g. eager)")
    repeats: int = option(3, "with --baseline: baseline and variant processes alternate (ABAB...) this many "
                             "times each per shape; the speedup is their ratio of medians with a bootstrap 95% "
                             "interval")
    out: Path | None = option(None, "directory for one JSON record per cell")
    random_init: bool = option(False, "build the size's architecture with random weights (throughput only, "
                                      "no download)")
    layer: int | None = option(None, "encoder layer to output", shown_default="last")
    text_file: Path | None = option(None, "time on real text (one per line) instead of synthetic token ids")
    threads: int | None = threads_option()
    min_agreement: float | None = option(None, "parity bound: least agreement with eager fp32 for a variant to "
                                               "pass (0..1)", shown_default="the backend's")
    timing: TimingConfig = field(default_factory=TimingConfig)
    command: str = ""


def accuracy_status(checkpoint) -> dict:
    if not checkpoint.trained:
        return {"status": "not applicable: untrained (random init)"}
    return {"status": "not measured by bench run: use bench eval or bench sweep"}


def _read_texts(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    try:
        texts = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read text file {path}: {e}") from None
    if not texts:
        raise UserError(f"text file {path} has no non-empty lines")
    return texts


def _check_shapes(cfg: RunConfig, texts):
    def check(checkpoint) -> None:
        max_pos = checkpoint.config.get("max_position_embeddings", 512)
        usable = max_pos - 2 if checkpoint.config.get("model_type") == "xlm-roberta" else max_pos
        if max(cfg.seq_lens) > usable:
            raise UserError(f"sequence length {max(cfg.seq_lens)} exceeds what {checkpoint.name} supports ({usable})")
        if texts and not checkpoint.has_tokenizer():
            raise UserError(f"--text-file needs a tokenizer, and {checkpoint.path} has none")
    return check


def run_benchmark(cfg: RunConfig, log=lambda msg: print(msg, file=sys.stderr)) -> list[PerformanceRecord]:
    if cfg.device not in ("cpu", "cuda"):
        raise UserError(f"unknown device '{cfg.device}'; use cpu or cuda")
    if any(b < 1 for b in cfg.batch_sizes) or any(s < 2 for s in cfg.seq_lens) or cfg.repeats < 1:
        raise UserError("batch sizes and --repeats must be >= 1, sequence lengths >= 2")
    if cfg.min_agreement is not None and not 0 <= cfg.min_agreement <= 1:
        raise UserError(f"--min-agreement is a fraction of the parity inputs, 0 to 1, not {cfg.min_agreement:g}")
    backends = [cfg.backend] if cfg.baseline in (None, cfg.backend) else [cfg.baseline, cfg.backend]
    # both looked up and resolved once, before either is exported
    choices = {name: choose_backend(name, cfg.device, cfg.options if name == cfg.backend else {}, cfg.layer)
               for name in backends}
    texts = _read_texts(cfg.text_file)
    variants: dict[str, Variant] = {}
    for name, choice in choices.items():
        log(f"exporting {name} (cached after the first time) ...")
        variants[name] = prepare_variant(cfg.model, choice, random_init=cfg.random_init, threads=cfg.threads,
                                         before_export=_check_shapes(cfg, texts))
    env = collect_env()
    repeats = cfg.repeats if len(variants) > 1 else 1
    records = []
    for batch_size in cfg.batch_sizes:
        for seq_len in cfg.seq_lens:
            results: dict[str, list[dict]] = {name: [] for name in variants}
            # Baseline and variant alternate in fresh processes (ABAB...), so drift and process-to-process
            # differences fall on both sides of the ratio alike.
            for repeat in range(repeats):
                for name, variant in variants.items():
                    log(f"measuring {name} on {cfg.device}: batch {batch_size} x seq {seq_len}"
                        + (f" (repeat {repeat + 1} of {repeats})" if repeats > 1 else "") + " ...")
                    results[name].append(time_point(variant, batch_size, seq_len, cfg.timing, texts,
                                                    cfg.min_agreement))
            shape_records = {name: _record(cfg, variants[name], batch_size, seq_len, runs, env)
                             for name, runs in results.items()}
            if len(variants) > 1:
                _add_speedup(shape_records[cfg.baseline], shape_records[cfg.backend], results[cfg.baseline],
                             results[cfg.backend])
            for record in shape_records.values():
                if cfg.out:
                    save_record(cfg.out, record)
                records.append(record)
    return records


def _add_speedup(base: dict, variant: dict, base_runs: list[dict], variant_runs: list[dict]) -> None:
    ratio, ci = speedup_ci([np.asarray(r["latencies_s"]) for r in base_runs],
                           [np.asarray(r["latencies_s"]) for r in variant_runs])
    variant.update(speedup=ratio, speedup_ci95=list(ci) if ci else None,
                   speedup_method=f"same run, {len(base_runs)} interleaved process pair(s) (ABAB), ratio of median "
                                  "latencies, two-level bootstrap 95% interval")
    variant["baseline"] = {"backend": base["backend"], "throughput": base["throughput"],
                           "latency_ms_p50": base["latency_ms"]["p50"]}
    base["speedup"] = 1.0


def _record(cfg: RunConfig, variant: Variant, batch_size: int, seq_len: int, runs: list[dict],
            env: dict) -> PerformanceRecord:
    """One record per backend and shape; with repeats, latencies pool over the backend's processes and the
    memory figures are the highest any of them reached."""
    from bench.timing.harness import summarize

    artifact, checkpoint, first = variant.artifact, variant.checkpoint, runs[0]
    latencies = np.concatenate([np.asarray(r["latencies_s"]) for r in runs])
    timing = summarize(latencies, batch_size, seq_len, sum(r["timing"]["warmup_iterations"] for r in runs))
    memory = {k: max(r["memory"][k] for r in runs) if isinstance(first["memory"][k], (int, float))
              and not isinstance(first["memory"][k], bool) else first["memory"][k] for k in first["memory"]}
    return performance_record(
        model=checkpoint.name, checkpoint=str(checkpoint.path), trained=checkpoint.trained,
        backend=artifact.backend, options=artifact.options, device=cfg.device,
        batch_size=batch_size, seq_len=seq_len, input=first["input"],
        throughput=timing["throughput"], tokens_per_s=timing["tokens_per_s"], latency_ms=timing["latency_ms"],
        iterations=timing["iterations"], warmup_iterations=timing["warmup_iterations"],
        timing_config=cfg.timing.to_dict(), repeats=len(runs),
        repeat_throughputs=[r["timing"]["throughput"] for r in runs],
        peak_memory_mb=inference_peak_mb(memory, cfg.device), runtime=first["runtime"],
        memory=memory, size_mb=artifact.manifest["size_mb"], layers_executed=artifact.manifest["layers_executed"],
        export={k: artifact.manifest.get(k) for k in ("export_time_s", "export_peak_memory_mb", "created")},
        load_time_s=max(r["load_time_s"] for r in runs), parity=first["parity"],
        accuracy=accuracy_status(checkpoint), speedup=None, baseline=None,
        threads={"requested": variant.threads, **first["threads"]}, env=env, command=cfg.command)
