"""`bench run`: export (cached), check parity, and time one model on one or two backends over a grid of
batch sizes and sequence lengths; the speedup is the ratio to a baseline timed in the same invocation."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import (backend_option, backend_options_option, device_option, int_list, model_option, option,
                          threads_option)
from bench.env import collect_env
from bench.harness import TimingConfig
from bench.measure import CellSpec, measure_cell
from bench.records import save_record
from bench.schema import PerformanceRecord, performance_record
from bench.variant import Variant, check_available, prepare_variant
from export.isolate import run_isolated
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
    out: Path | None = option(None, "directory for one JSON record per cell")
    random_init: bool = option(False, "build the size's architecture with random weights (throughput only, "
                                      "no download)")
    layer: int | None = option(None, "encoder layer to output", shown_default="last")
    text_file: Path | None = option(None, "time on real text (one per line) instead of synthetic token ids")
    threads: int | None = threads_option()
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
    if any(b < 1 for b in cfg.batch_sizes) or any(s < 2 for s in cfg.seq_lens):
        raise UserError("batch sizes must be >= 1 and sequence lengths >= 2")
    backends = [cfg.backend] if cfg.baseline in (None, cfg.backend) else [cfg.baseline, cfg.backend]
    for name in backends:  # both, before either is exported
        check_available(name, cfg.device, {**(cfg.options if name == cfg.backend else {}), "layer": cfg.layer})
    texts = _read_texts(cfg.text_file)
    variants: dict[str, Variant] = {}
    for name in backends:
        log(f"exporting {name} (cached after the first time) ...")
        variants[name] = prepare_variant(cfg.model, name, cfg.device, layer=cfg.layer, random_init=cfg.random_init,
                                         options=cfg.options if name == cfg.backend else {}, threads=cfg.threads,
                                         before_export=_check_shapes(cfg, texts))
    env = collect_env()
    records = []
    for batch_size in cfg.batch_sizes:
        for seq_len in cfg.seq_lens:
            shape_records = {}
            # Baseline and variant run back to back for each shape, so drift affects both alike.
            for name, variant in variants.items():
                log(f"measuring {name} on {cfg.device}: batch {batch_size} x seq {seq_len} ...")
                spec = CellSpec(str(variant.artifact.path), cfg.device, batch_size, seq_len, variant.threads,
                                cfg.timing, texts)
                shape_records[name] = _record(cfg, variant, spec, run_isolated(measure_cell, spec), env)
            if cfg.baseline and cfg.baseline != cfg.backend:
                base, variant = shape_records[cfg.baseline], shape_records[cfg.backend]
                variant["speedup"] = variant["throughput"] / base["throughput"]
                variant["baseline"] = {"backend": cfg.baseline, "throughput": base["throughput"],
                                       "latency_ms_p50": base["latency_ms"]["p50"]}
                base["speedup"] = 1.0
            for record in shape_records.values():
                if cfg.out:
                    save_record(cfg.out, record)
                records.append(record)
    return records


def _record(cfg: RunConfig, variant: Variant, spec: CellSpec, result: dict, env: dict) -> PerformanceRecord:
    timing, artifact, checkpoint = result["timing"], variant.artifact, variant.checkpoint
    return performance_record(
        model=checkpoint.name, checkpoint=str(checkpoint.path), trained=checkpoint.trained,
        backend=artifact.backend, options=artifact.options, device=cfg.device,
        batch_size=spec.batch_size, seq_len=spec.seq_len, input=result["input"],
        throughput=timing["throughput"], tokens_per_s=timing["tokens_per_s"], latency_ms=timing["latency_ms"],
        iterations=timing["iterations"], warmup_iterations=timing["warmup_iterations"],
        timing_config=spec.timing.to_dict(),
        peak_memory_mb=(result["memory"].get("cuda_max_allocated_mb") if cfg.device == "cuda"
                        else result["memory"]["inference_peak_rss_mb"]),
        memory=result["memory"], size_mb=artifact.manifest["size_mb"],
        layers_executed=artifact.manifest["layers_executed"],
        export={k: artifact.manifest.get(k) for k in ("export_time_s", "export_peak_memory_mb", "created")},
        load_time_s=result["load_time_s"], parity=result["parity"], accuracy=accuracy_status(checkpoint),
        speedup=None, baseline=None, threads={"requested": spec.threads, **result["threads"]}, env=env,
        command=cfg.command)
