"""Task throughput: how a task's real inputs are batched (`--batching`), and the timed feed that runs them.

Every accuracy pass feeds its tokenised inputs through a `TaskFeed`, which batches them under one policy,
runs each batch through the runner that the harness times, and measures as it goes. The model time is taken
*during* the accuracy pass, call by call, rather than in a second timing pass: the predictions that are scored
are the outputs of exactly the timed calls, and on 2 cores a second pass would double a sweep's eval time. The
discipline is the harness's: warm-up on real batches before the first timed call, host->device copies outside
the clock, the clock read after `synchronize`, the runner's thread settings fixed at load and recorded.
A batch during which a compiled runner built a new graph is timed again once compiled: its compile time is
counted and reported apart, never folded into model time. Tokenisation is timed separately (`tokenizing()`).

Policies (XTREME's own scripts pad every batch to the task's max length: `fixed`):
  fixed    data order, every batch padded to max length
  dynamic  data order, each batch padded to its longest member
  sorted   sorted by length, then batched (outputs are returned in input order before scoring)
  tokens   sorted, batches filled up to a token budget (rows x longest <= --max-tokens)
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from models.errors import UserError

BIN_WIDTH = 8  # tokens per bar of the recorded length histograms


def _fixed(lengths, batch_size, max_length, max_tokens):
    order = list(range(len(lengths)))
    return [(order[s : s + batch_size], max_length) for s in range(0, len(order), batch_size)]


def _dynamic(lengths, batch_size, max_length, max_tokens):
    order = list(range(len(lengths)))
    return [(idx, max(lengths[i] for i in idx)) for idx in
            (order[s : s + batch_size] for s in range(0, len(order), batch_size))]


def _sorted(lengths, batch_size, max_length, max_tokens):
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [(idx, max(lengths[i] for i in idx)) for idx in
            (order[s : s + batch_size] for s in range(0, len(order), batch_size))]


def _token_budget(lengths, batch_size, max_length, max_tokens):
    """Sorted by length; a batch grows while (rows + 1) x its new longest fits the budget. `batch_size` does not
    cap it: the budget is the policy's one knob (a sequence longer than the budget gets a batch of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[i] > max_tokens:
            batches.append((current, lengths[current[-1]]))
            current = []
        current.append(i)
    if current:
        batches.append((current, lengths[current[-1]]))
    return batches


POLICIES = {"fixed": _fixed, "dynamic": _dynamic, "sorted": _sorted, "tokens": _token_budget}
DEFAULT_POLICY = "sorted"


def check_policies(names: list[str], max_tokens: int | None) -> list[str]:
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise UserError(f"unknown batching policy '{unknown[0]}'; choose from {', '.join(POLICIES)}")
    if not names:
        raise UserError(f"--batching needs at least one of {', '.join(POLICIES)}")
    if len(set(names)) != len(names):
        raise UserError(f"--batching names a policy twice: {','.join(names)}")
    if max_tokens is not None and max_tokens < 1:
        raise UserError(f"--max-tokens must be a positive number of tokens, not {max_tokens}")
    return names


@dataclass
class LanguageCounts:
    sequences: int = 0  # model inputs (both sides of a retrieval pair, every QA window)
    tokens: int = 0  # real (non-padding) tokens fed
    slots: int = 0  # tokens fed including padding
    batches: int = 0
    model_seconds: float = 0.0
    tokenize_seconds: float = 0.0
    compiles: int = 0
    compile_seconds: float = 0.0
    lengths: list = field(default_factory=list)


class TaskFeed:
    """Batches, runs and times one policy's pass over a task's languages."""

    def __init__(self, runner, policy: str, batch_size: int, max_tokens: int | None, warmup: int = 3):
        self.runner, self.policy, self.batch_size = runner, policy, batch_size
        self.max_tokens = max_tokens or 4096
        self.warmup_per_batch, self.warmup_batches = warmup, 0
        self.counts: dict[str, LanguageCounts] = {}
        self.lang = ""
        self.sample = None  # a bench.timing.rounds.BatchSample: the batches the performance run's rounds time again

    def language(self, lang: str) -> None:
        self.lang = lang
        self.counts.setdefault(lang, LanguageCounts())

    @contextlib.contextmanager
    def tokenizing(self):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.counts[self.lang].tokenize_seconds += time.perf_counter() - t0

    def run(self, encoded: list[list[int]], pad_id: int, max_length: int,
            token_level: bool = True) -> list[dict[str, np.ndarray]]:
        """Per-sequence outputs in input order (token-level outputs trimmed to the sequence's length)."""
        lengths = [min(len(seq), max_length) for seq in encoded]
        batches = POLICIES[self.policy](lengths, self.batch_size, max_length, self.max_tokens)
        results: list = [None] * len(encoded)
        counts = self.counts[self.lang]
        counts.lengths.extend(lengths)
        with self.runner.context():
            for idx, width in batches:
                ids = np.full((len(idx), width), pad_id, dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                for row, i in enumerate(idx):
                    ids[row, : lengths[i]], mask[row, : lengths[i]] = encoded[i][: lengths[i]], 1
                if self.sample is not None:
                    self.sample.offer(ids, mask)
                prepared = self.runner.prepare({"input_ids": ids, "attention_mask": mask})
                if not self.warmup_batches:  # the pass's first batch: warm the runner on real data
                    self._warm_up(prepared)
                outputs, seconds = self._timed(prepared, counts)
                counts.model_seconds += seconds
                counts.batches += 1
                counts.sequences += len(idx)
                counts.tokens += int(mask.sum())
                counts.slots += mask.size
                outputs = self.runner.to_numpy(outputs)
                for row, i in enumerate(idx):
                    results[i] = {k: (v[row, : lengths[i]] if token_level else v[row]) for k, v in outputs.items()}
        return results

    def _warm_up(self, prepared) -> None:
        graphs, t0 = self.runner.compilations(), time.perf_counter()
        for _ in range(self.warmup_per_batch):
            self.runner.forward(prepared)
            self.runner.synchronize()
        self.warmup_batches += self.warmup_per_batch
        if self.runner.compilations() > graphs:  # compiled for the first real shape: count it with the others
            self.counts[self.lang].compiles += self.runner.compilations() - graphs
            self.counts[self.lang].compile_seconds += time.perf_counter() - t0

    def _timed(self, prepared, counts: LanguageCounts):
        graphs = self.runner.compilations()
        t0 = time.perf_counter()
        outputs = self.runner.forward(prepared)
        self.runner.synchronize()
        seconds = time.perf_counter() - t0
        built = self.runner.compilations() - graphs
        if built:  # this call compiled a graph for a new shape: count it, and time the call once compiled
            counts.compiles += built
            counts.compile_seconds += seconds
            t0 = time.perf_counter()
            outputs = self.runner.forward(prepared)
            self.runner.synchronize()
            seconds = time.perf_counter() - t0
        return outputs, seconds

    def summary(self, examples: dict[str, int], average: float, max_length: int) -> dict:
        """The record's `task_throughput[policy]` block (bench.records.schema.TaskThroughput)."""
        languages = {lang: _figures(c, examples[lang]) for lang, c in self.counts.items()}
        total = LanguageCounts(**{k: sum(getattr(c, k) for c in self.counts.values())
                                  for k in ("sequences", "tokens", "slots", "batches", "model_seconds",
                                            "tokenize_seconds", "compiles", "compile_seconds")})
        return {"policy": self.policy, "batch_size": self.batch_size,
                "max_tokens": self.max_tokens if self.policy == "tokens" else None, "max_length": max_length,
                **_figures(total, sum(examples.values())), "compiles": total.compiles,
                "compile_seconds": total.compile_seconds, "warmup_batches": self.warmup_batches,
                "average": average, "languages": languages}


def _figures(c: LanguageCounts, examples: int) -> dict:
    seconds = c.model_seconds or float("nan")
    return {"examples": examples, "sequences": c.sequences, "tokens": c.tokens, "padded_tokens": c.slots,
            "padding_fraction": 1 - c.tokens / c.slots if c.slots else 0.0, "batches": c.batches,
            "model_seconds": c.model_seconds, "tokenize_seconds": c.tokenize_seconds,
            "examples_per_s": examples / seconds, "sequences_per_s": c.sequences / seconds,
            "tokens_per_s": c.tokens / seconds}


def length_histogram(lengths: list[int]) -> dict:
    """Token lengths of a language's model inputs, as the record keeps them (`input_lengths`)."""
    if not lengths:
        return {"bin_width": BIN_WIDTH, "counts": [], "mean": 0.0, "p50": 0, "p90": 0, "max": 0}
    arr = np.asarray(lengths)
    counts = np.bincount(arr // BIN_WIDTH).tolist()
    return {"bin_width": BIN_WIDTH, "counts": counts, "mean": float(arr.mean()),
            "p50": int(np.percentile(arr, 50)), "p90": int(np.percentile(arr, 90)), "max": int(arr.max())}


def prediction_agreement(a: dict, b: dict) -> float:
    """Fraction of predictions that two passes over the same examples share (language by language)."""
    same = total = 0
    for lang, pa in a.items():
        pb = b[lang]
        pairs = [(pa[k], pb.get(k)) for k in pa] if isinstance(pa, dict) else list(zip(pa, pb))
        same += sum(x == y for x, y in pairs)
        total += len(pairs)
    return same / total if total else 1.0
