"""The accuracy pass: XTREME accuracy per language of one prepared variant, through the exact runner that
the harness times (MLPerf's accuracy mode on the performance artifact). Used by `bench eval` and the sweep
cell alike."""

from __future__ import annotations

import re
import time
from pathlib import Path

from bench.env import collect_env
from bench.measure import load_with_parity
from bench.schema import AccuracyRecord, accuracy_record
from bench.tasks.base import DataSource
from bench.variant import Variant
from models.errors import UserError
from models.files import write_json_atomic, write_text_atomic


def check_scorable(task, checkpoint) -> None:
    if not checkpoint.trained:
        raise UserError(f"accuracy is not applicable to {checkpoint.name}: it is untrained (random init)")
    task.check_head(checkpoint)


def load_task_data(task, langs: list[str] | None, data_dir: Path | None, split: str) -> dict:
    """language -> (examples, source): every file is read before any compute, so bad data fails first."""
    source = DataSource(data_dir, split)
    return {lang: task.load(lang, source) for lang in (langs or list(task.languages))}


def measure_accuracy(variant: Variant, task, data: dict, split: str, batch_size: int, max_length: int | None,
                     command: str = "", log=lambda m: None,
                     min_agreement: float | None = None) -> tuple[AccuracyRecord, dict]:
    """The accuracy record and the predictions per language."""
    checkpoint = variant.checkpoint
    max_length = max_length or task.default_max_length
    runner, parity, _ = load_with_parity(variant.artifact, variant.device, variant.threads, min_agreement)
    scores, counts, predictions, sources, per_example = {}, {}, {}, {}, {}
    t0 = time.perf_counter()
    for lang, (examples, sources[lang]) in data.items():
        log(f"{task.name} {lang}: {variant.backend} on {variant.device} ...")
        result = task.evaluate(runner, checkpoint, examples, lang, batch_size, max_length)
        scores[lang], counts[lang], predictions[lang] = result.scores, result.n_examples, result.predictions
        per_example[lang] = result.per_example
    primary = {lang: s[task.metric_name] for lang, s in scores.items()}
    record = accuracy_record(
        task=task.name, family=task.family, metric=task.metric_name, higher_is_better=task.higher_is_better,
        split=split, scores=primary, all_scores=scores, average=sum(primary.values()) / len(primary),
        n_examples=counts, languages=list(data), model=checkpoint.name, checkpoint=str(checkpoint.path),
        checkpoint_metadata=checkpoint.metadata, backend=variant.backend, options=variant.artifact.options,
        device=variant.device, layer=variant.layer, layers_executed=variant.artifact.manifest["layers_executed"],
        max_length=max_length, batch_size=batch_size,
        data_sources=sources, per_example=per_example, parity=parity, eval_seconds=time.perf_counter() - t0, threads=runner.threads(),
        env=collect_env(), command=command)
    return record, predictions


def accuracy_record_name(record: AccuracyRecord) -> str:
    parts = ["eval", record["model"], record["backend"], record["device"], record["task"], record["split"]]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "__".join(map(str, parts))) + ".json"


def write_outputs(out: Path, task, record: AccuracyRecord, predictions: dict) -> None:
    """Predictions in XTREME's submission layout, then the record (each file atomically)."""
    for lang, preds in predictions.items():
        path = Path(out) / "predictions" / task.name / f"{record['split']}-{lang}.{task.prediction_ext}"
        write_text_atomic(path, task.format_predictions(preds))
    write_json_atomic(Path(out) / accuracy_record_name(record), record)
