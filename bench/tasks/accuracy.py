"""The accuracy pass: XTREME accuracy per language of one prepared variant, through the exact runner that
the harness times (MLPerf's accuracy mode on the performance artifact). Used by `bench eval` and the sweep
cell alike."""

from __future__ import annotations

import re
import time
from pathlib import Path

from bench.timing.batching import (DEFAULT_POLICY, TaskFeed, check_policies, length_histogram,
                            prediction_agreement)
from bench.records.env import collect_env
from bench.timing.measure import load_with_parity
from bench.records.schema import AccuracyRecord, accuracy_record
from bench.tasks.base import DataSource
from bench.variants.prepare import Variant
from models.errors import UserError
from models.files import write_json_atomic, write_text_atomic


def check_scorable(task, checkpoint, split: str, langs: list[str] | None) -> None:
    if not checkpoint.trained:
        raise UserError(f"accuracy is not applicable to {checkpoint.name}: it is untrained (random init)")
    task.check_head(checkpoint, split, langs)


def load_task_data(task, langs: list[str] | None, data_dir: Path | None, split: str,
                   max_examples: int | None = None) -> dict:
    """language -> (examples, source): every file is read before any compute, so bad data fails first.
    `max_examples` keeps each language's first N examples (the record says so in `max_examples`)."""
    if max_examples is not None and max_examples < 1:
        raise UserError(f"--max-examples must be a positive number of examples per language, not {max_examples}")
    source = DataSource(data_dir, split)
    data = {lang: task.load(lang, source) for lang in (langs or list(task.languages))}
    if max_examples:
        data = {lang: (task.first(examples, max_examples), where) for lang, (examples, where) in data.items()}
    return data


def measure_accuracy(variant: Variant, task, data: dict, split: str, batch_size: int, max_length: int | None,
                     command: str = "", log=lambda m: None, min_agreement: float | None = None,
                     batching: list[str] | None = None,
                     max_tokens: int | None = None, max_examples: int | None = None,
                     batch_sample=None) -> tuple[AccuracyRecord, dict]:
    """The accuracy record and the predictions per language. Each batching policy makes one timed pass over
    every language (bench.timing.batching); the first policy's pass is the one scored, the others must agree with it.
    `batch_sample` (bench.timing.rounds.BatchSample) keeps a sample of the scored pass's batches for timing rounds."""
    checkpoint = variant.checkpoint
    max_length = max_length or task.default_max_length
    policies = check_policies(batching or [DEFAULT_POLICY], max_tokens)
    runner, parity, _ = load_with_parity(variant.artifact, variant.choice.backend, variant.device, variant.threads,
                                         min_agreement)
    t0 = time.perf_counter()
    label = f"{variant.backend} on {variant.device}"
    passes = [_policy_pass(runner, task, checkpoint, data, policy, batch_size, max_tokens, max_length, label, log,
                           batch_sample if n == 0 else None) for n, policy in enumerate(policies)]
    scores, counts, predictions, per_example, feed = passes[0]
    throughput = {}
    for pass_scores, _, pass_predictions, _, pass_feed in passes:
        average = _mean(s[task.metric_name] for s in pass_scores.values())
        throughput[pass_feed.policy] = {**pass_feed.summary(counts, average, max_length),
                                        "prediction_agreement": prediction_agreement(predictions, pass_predictions)}
    primary = {lang: s[task.metric_name] for lang, s in scores.items()}
    record = accuracy_record(
        task=task.name, family=task.family, metric=task.metric_name, higher_is_better=task.higher_is_better,
        split=split, scores=primary, all_scores=scores, average=_mean(primary.values()),
        n_examples=counts, languages=list(data), model=checkpoint.name, checkpoint=str(checkpoint.path),
        checkpoint_metadata=checkpoint.metadata, backend=variant.backend, options=variant.artifact.options,
        device=variant.device, layer=variant.layer, layers_executed=variant.artifact.manifest["layers_executed"],
        max_length=max_length, batch_size=batch_size, batching=policies[0], max_examples=max_examples, task_throughput=throughput,
        input_lengths={lang: length_histogram(c.lengths) for lang, c in feed.counts.items()},
        data_sources={lang: source for lang, (_, source) in data.items()}, per_example=per_example, parity=parity,
        eval_seconds=time.perf_counter() - t0, threads=runner.threads(), env=collect_env(), command=command)
    return record, predictions


def _policy_pass(runner, task, checkpoint, data: dict, policy: str, batch_size: int, max_tokens: int | None,
                 max_length: int, label: str, log, batch_sample=None):
    feed = TaskFeed(runner, policy, batch_size, max_tokens)
    feed.sample = batch_sample
    scores, counts, predictions, per_example = {}, {}, {}, {}
    for lang, (examples, _) in data.items():
        log(f"{task.name} {lang}: {label}, {policy} batching ...")
        feed.language(lang)
        result = task.evaluate(feed, checkpoint, examples, lang, max_length)
        scores[lang], counts[lang], predictions[lang] = result.scores, result.n_examples, result.predictions
        per_example[lang] = result.per_example
    return scores, counts, predictions, per_example, feed


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def accuracy_record_name(record: AccuracyRecord) -> str:
    parts = ["eval", record["model"], record["backend"], record["device"], record["task"], record["split"]]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "__".join(map(str, parts))) + ".json"


def prediction_path(out: Path, task, split: str, lang: str) -> Path:
    """XTREME's submission layout, which its scorer (evaluate.py) reads: `{folder}/{task}/test-{lang}.{ext}`, every
    file named `test-` whatever the split (TyDiQA-GoldP's dev set is XTREME's test set; MLQA is scored on dev
    here). The folder says the split: `predictions/` for test, `predictions-dev/` for dev, so that
    `--prediction_folder` points at one split."""
    folder = "predictions" if split == "test" else f"predictions-{split}"
    return Path(out) / folder / task.name / f"test-{lang}.{task.prediction_ext}"


def write_outputs(out: Path, task, record: AccuracyRecord, predictions: dict) -> None:
    """Predictions in XTREME's submission layout, then the record (each file atomically)."""
    for lang, preds in predictions.items():
        path = prediction_path(Path(out), task, record["split"], lang)
        write_text_atomic(path, task.format_predictions(preds))
    write_json_atomic(Path(out) / accuracy_record_name(record), record)
