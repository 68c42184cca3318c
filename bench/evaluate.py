"""`bench eval`: XTREME accuracy of one model x backend on one task, per language, measured with the
exact artifact and runner that `bench run` times (MLPerf's accuracy mode on the performance artifact)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.env import collect_env, default_threads
from bench.errors import UserError
from bench.measure import load_with_parity
from bench.records import SCHEMA_VERSION, write_json_atomic, write_text_atomic
from bench.run import check_available, ensure_reference
from bench.tasks import get_task
from bench.tasks.base import DataSource
from export.artifacts import ensure_artifact
from models.checkpoint import resolve_checkpoint


@dataclass
class EvalConfig:
    task: str
    model: str | None = None
    backend: str = "eager"
    device: str = "cpu"
    langs: list[str] | None = None
    data_dir: Path | None = None
    split: str = "test"
    out: Path | None = None
    batch_size: int = 32
    max_length: int | None = None
    layer: int | None = None
    threads: int | None = None
    options: dict = field(default_factory=dict)
    command: str = ""


def accuracy_record_name(record: dict) -> str:
    import re

    parts = ["eval", record["model"], record["backend"], record["device"], record["task"], record["split"]]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "__".join(map(str, parts))) + ".json"


def run_eval(cfg: EvalConfig, log=lambda m: print(m, file=sys.stderr)) -> dict:
    task = get_task(cfg.task)
    check_available(cfg.backend, cfg.device)
    checkpoint = resolve_checkpoint(cfg.model)
    if not checkpoint.trained:
        raise UserError(f"accuracy is not applicable to {checkpoint.name}: it is untrained (random init)")
    task.check_head(checkpoint)
    langs = cfg.langs or list(task.languages)
    source = DataSource(cfg.data_dir, cfg.split)
    data = {lang: task.load(lang, source) for lang in langs}  # every file is read before any compute
    layer = cfg.layer
    if layer is None and task.family == "retrieval":
        from bench.tasks.retrieval import default_layer

        layer = default_layer(checkpoint)
    max_length = cfg.max_length or task.default_max_length
    threads = cfg.threads or default_threads()
    ensure_reference(checkpoint, layer)
    artifact = ensure_artifact(cfg.backend, checkpoint, {**cfg.options, "layer": layer}, cfg.device)
    runner, parity, _ = load_with_parity(artifact, cfg.device, threads)
    scores, counts, predictions, sources = {}, {}, {}, {}
    t0 = time.perf_counter()
    for lang in langs:
        examples, sources[lang] = data[lang]
        log(f"{task.name} {lang}: {cfg.backend} on {cfg.device} ...")
        result = task.evaluate(runner, checkpoint, examples, lang, cfg.batch_size, max_length)
        scores[lang], counts[lang], predictions[lang] = result.scores, result.n_examples, result.predictions
    primary = {lang: s[task.metric_name] for lang, s in scores.items()}
    record = {
        "schema_version": SCHEMA_VERSION, "kind": "accuracy", "task": task.name, "family": task.family,
        "metric": task.metric_name, "higher_is_better": task.higher_is_better, "split": cfg.split,
        "scores": primary, "all_scores": scores, "average": sum(primary.values()) / len(primary),
        "n_examples": counts, "languages": langs, "model": checkpoint.name, "checkpoint": str(checkpoint.path),
        "checkpoint_metadata": checkpoint.metadata, "backend": cfg.backend, "options": artifact.options,
        "device": cfg.device, "layer": layer, "max_length": max_length, "batch_size": cfg.batch_size,
        "data_sources": sources, "parity": parity, "eval_seconds": time.perf_counter() - t0,
        "threads": runner.threads(), "env": collect_env(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": cfg.command,
    }
    if cfg.out:
        write_outputs(cfg.out, task, record, predictions)
    return record


def write_outputs(out: Path, task, record: dict, predictions: dict) -> None:
    """Predictions in XTREME's submission layout, then the record (each file atomically)."""
    for lang, preds in predictions.items():
        path = out / "predictions" / task.name / f"{record['split']}-{lang}.{task.prediction_ext}"
        write_text_atomic(path, task.format_predictions(preds))
    write_json_atomic(out / accuracy_record_name(record), record)
