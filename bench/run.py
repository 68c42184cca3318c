"""`bench run`: export (cached), check parity, and time one model on one or two backends over a grid of
batch sizes and sequence lengths; the speedup is the ratio to a baseline timed in the same invocation."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.env import collect_env, default_threads
from bench.errors import UserError
from bench.harness import TimingConfig
from bench.isolate import run_isolated
from bench.measure import CellSpec, measure_cell
from bench.records import SCHEMA_VERSION, save_record
from export.artifacts import ensure_artifact
from export.registry import get_backend
from models.checkpoint import Checkpoint, resolve_checkpoint


@dataclass
class RunConfig:
    model: str | None = None
    backend: str = "eager"
    device: str = "cpu"
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    seq_lens: list[int] = field(default_factory=lambda: [128])
    baseline: str | None = None
    out: Path | None = None
    random_init: bool = False
    threads: int | None = None
    options: dict = field(default_factory=dict)
    layer: int | None = None
    timing: TimingConfig = field(default_factory=TimingConfig)
    text_file: Path | None = None
    command: str = ""


def check_available(backend: str, device: str) -> None:
    reason = get_backend(backend).availability(device)
    if reason:
        raise UserError(f"backend {backend} cannot run on {device}: {reason}")


def ensure_reference(checkpoint: Checkpoint, layer) -> None:
    from bench.parity import compute_reference, load_reference

    if load_reference(checkpoint, layer) is None:
        run_isolated(compute_reference, checkpoint, layer)


def accuracy_status(checkpoint: Checkpoint) -> dict:
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


def run_benchmark(cfg: RunConfig, log=lambda msg: print(msg, file=sys.stderr)) -> list[dict]:
    if cfg.device not in ("cpu", "cuda"):
        raise UserError(f"unknown device '{cfg.device}'; use cpu or cuda")
    if any(b < 1 for b in cfg.batch_sizes) or any(s < 2 for s in cfg.seq_lens):
        raise UserError("batch sizes must be >= 1 and sequence lengths >= 2")
    backends = [cfg.backend] if cfg.baseline in (None, cfg.backend) else [cfg.baseline, cfg.backend]
    for name in backends:
        check_available(name, cfg.device)
    checkpoint = resolve_checkpoint(cfg.model, cfg.random_init)
    max_pos = checkpoint.config.get("max_position_embeddings", 512)
    usable = max_pos - 2 if checkpoint.config.get("model_type") == "xlm-roberta" else max_pos
    if max(cfg.seq_lens) > usable:
        raise UserError(f"sequence length {max(cfg.seq_lens)} exceeds what {checkpoint.name} supports ({usable})")
    texts = _read_texts(cfg.text_file)
    if texts and not checkpoint.has_tokenizer():
        raise UserError(f"--text-file needs a tokenizer, and {checkpoint.path} has none")
    threads = cfg.threads or default_threads()
    ensure_reference(checkpoint, cfg.layer)
    artifacts = {}
    for name in backends:
        options = {**(cfg.options if name == cfg.backend else {}), "layer": cfg.layer}
        log(f"exporting {name} (cached after the first time) ...")
        artifacts[name] = ensure_artifact(name, checkpoint, options, cfg.device)
    env = collect_env()
    records = []
    for batch_size in cfg.batch_sizes:
        for seq_len in cfg.seq_lens:
            shape_records = {}
            # Baseline and variant run back to back for each shape, so drift affects both alike.
            for name in backends:
                log(f"measuring {name} on {cfg.device}: batch {batch_size} x seq {seq_len} ...")
                spec = CellSpec(str(artifacts[name].path), cfg.device, batch_size, seq_len, threads,
                                cfg.timing, texts)
                result = run_isolated(measure_cell, spec)
                shape_records[name] = _record(cfg, checkpoint, artifacts[name], spec, result, env)
            if cfg.baseline and cfg.baseline != cfg.backend:
                base = shape_records[cfg.baseline]
                variant = shape_records[cfg.backend]
                variant["speedup"] = variant["throughput"] / base["throughput"]
                variant["baseline"] = {"backend": cfg.baseline, "throughput": base["throughput"],
                                       "latency_ms_p50": base["latency_ms"]["p50"]}
                base["speedup"] = 1.0
            for record in shape_records.values():
                if cfg.out:
                    save_record(cfg.out, record)
                records.append(record)
    return records


def _record(cfg: RunConfig, checkpoint: Checkpoint, artifact, spec: CellSpec, result: dict, env: dict) -> dict:
    timing = result["timing"]
    return {
        "schema_version": SCHEMA_VERSION, "kind": "performance",
        "model": checkpoint.name, "checkpoint": str(checkpoint.path), "trained": checkpoint.trained,
        "backend": artifact.backend, "options": artifact.options, "device": cfg.device,
        "batch_size": spec.batch_size, "seq_len": spec.seq_len, "input": result["input"],
        "throughput": timing["throughput"], "throughput_unit": "sequences/s",
        "tokens_per_s": timing["tokens_per_s"], "latency_ms": timing["latency_ms"],
        "iterations": timing["iterations"], "warmup_iterations": timing["warmup_iterations"],
        "timing_config": spec.timing.to_dict(),
        "peak_memory_mb": (result["memory"].get("cuda_max_allocated_mb") if cfg.device == "cuda"
                           else result["memory"]["peak_rss_mb"]),
        "memory": result["memory"], "size_mb": artifact.manifest["size_mb"],
        "export": {k: artifact.manifest.get(k) for k in ("export_time_s", "export_peak_memory_mb", "created")},
        "load_time_s": result["load_time_s"], "parity": result["parity"],
        "accuracy": accuracy_status(checkpoint), "speedup": None, "baseline": None,
        "threads": {"requested": spec.threads, **result["threads"]}, "env": env,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": cfg.command,
    }
