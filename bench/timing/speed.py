"""Speed from timing rounds (bench.timing.rounds): examples/s and speedups with intervals, from each turn's per-batch
seconds. One two-level bootstrap (`rounds_ratio`: rounds, then batches) serves every ratio, so a speedup, a
throughput and the control's self-ratio are read the same way."""

from __future__ import annotations

from typing import Any

import numpy as np


def rounds_ratio(base: list[np.ndarray], variant: list[np.ndarray], paired_batches: bool, confidence: float = 0.95,
                 resamples: int = 2000, seed: int = 0) -> tuple[float, tuple[float, float] | None]:
    """Speedup of `variant` over `base` (> 1: faster): total time of `base` over the same work over total time of
    `variant`. `base[r]`, `variant[r]`: per-batch seconds in round r (the same round: timed minutes apart at most).
    Two-level bootstrap: resample rounds (paired), then batches within each chosen round (the same batch indices on
    both sides when both timed the same batches, `paired_batches`)."""
    rounds = min(len(base), len(variant))
    base, variant = base[:rounds], variant[:rounds]
    ratio = float(sum(b.sum() for b in base) / sum(v.sum() for v in variant))
    if rounds < 2 or min(len(x) for x in base + variant) < 3:
        return ratio, None
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for n in range(resamples):
        chosen = rng.integers(0, rounds, rounds)
        num = den = 0.0
        for r in chosen:
            pick = rng.integers(0, len(base[r]), len(base[r]))
            num += base[r][pick].sum()
            den += variant[r][pick if paired_batches else rng.integers(0, len(variant[r]), len(variant[r]))].sum()
        draws[n] = num / den
    tail = (1 - confidence) / 2 * 100
    return ratio, (float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail)))


def speed_rounds(speed: dict[str, Any], control: bool = False) -> list[np.ndarray]:
    return [np.asarray(r["batch_seconds"]) for r in sorted(speed["control" if control else "rounds"],
                                                           key=lambda r: r["round"])]


def sample_work(block: dict[str, Any]) -> float:
    """The examples a round's sample stands for: its sequences times the scored pass's examples per sequence."""
    return float(block["sampled_sequences"] * block["examples"] / block["sequences"])


def speedup(base: dict[str, Any], variant: dict[str, Any]) -> tuple[float, tuple[float, float] | None]:
    """Speedup in examples/s of one cell's `speed` block over another's, with its interval (rounds_ratio). Cells of
    one checkpoint ran the same batches (paired by batch); other checkpoints ran their own tokenisation of the same
    examples, so their times are scaled by the work each sample stands for."""
    same = base["batch_digest"] == variant["batch_digest"]
    scale = 1.0 if same else sample_work(variant) / sample_work(base)
    ratio, ci = rounds_ratio(speed_rounds(base), speed_rounds(variant), paired_batches=same)
    return ratio * scale, (ci[0] * scale, ci[1] * scale) if ci else None


def control_ratio(block: dict[str, Any]) -> tuple[float, tuple[float, float] | None]:
    """The reference over its own second copy in the same rounds: an honest interval contains 1.00."""
    return rounds_ratio(speed_rounds(block), speed_rounds(block, control=True), paired_batches=True)


def throughput(block: dict[str, Any], rounds: list[np.ndarray]) -> tuple[float, tuple[float, float] | None]:
    """Examples/s with its interval: seconds over examples-worth per batch through the same two-level bootstrap,
    inverted."""
    per_sequence = block["examples"] / block["sequences"]
    work = [np.asarray(block["batch_sequences"], dtype=float) * per_sequence for _ in rounds]
    seconds_per_example, ci = rounds_ratio(rounds, work, paired_batches=True)
    return 1 / seconds_per_example, (1 / ci[1], 1 / ci[0]) if ci else None
