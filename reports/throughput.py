"""Which throughput a report or `bench best` reads, and every ratio between two cells with its interval.

Three measures, best first: `rounds` (the sweep's performance run, bench.timing.rounds: each variant of a task timed
in rounds of fresh processes over the same sampled batches, with a 95% interval on examples/s and on every ratio);
`task` (examples/s of the accuracy pass's one timed pass over the task's own inputs: no interval); `fixed-shape`
(sequences/s of the timing grid's synthetic padded batches: timed in the same rounds, with intervals, where every
cell's grid point was; else the cell's one pass). A report falls back down this list, and says why."""

from __future__ import annotations

from dataclasses import dataclass

from reports.cells import has_accuracy, ok_cells

Interval = tuple[float, float] | None


def default_shape(records: list[dict]) -> tuple[int, int] | None:
    """The shape frontiers are drawn at: the largest batch size with the smallest sequence length."""
    shapes = {(p["batch_size"], p["seq_len"]) for r in ok_cells(records) for p in r.get("performance", [])}
    if not shapes:
        return None
    largest = max(b for b, _ in shapes)
    return largest, min(s for b, s in shapes if b == largest)


def point_at(record: dict, shape: tuple[int, int] | None) -> dict | None:
    """The cell's grid point of this shape (its first where `shape` is None)."""
    for p in record.get("performance", []):
        if shape is None or (p["batch_size"], p["seq_len"]) == tuple(shape):
            return p
    return None


def grid_rounds(records: list[dict], shape: tuple[int, int] | None) -> int:
    """Rounds every ok cell's grid point of `shape` was timed in (0 where one was not: the one-pass figures then)."""
    points = [point_at(r, shape) for r in ok_cells(records) if r.get("performance")]
    blocks = [p.get("speed") for p in points if p is not None]
    return min((len(b["rounds"]) for b in blocks if b), default=0) if blocks and all(blocks) else 0


@dataclass(frozen=True)
class Throughput:
    """Which throughput an analysis reads (the module's docstring lists the kinds)."""

    kind: str  # "rounds", "task" or "fixed-shape"
    policy: str | None = None  # rounds and task: the batching policy of the scored pass
    shape: tuple[int, int] | None = None  # fixed-shape: (batch size, sequence length)
    note: str = ""  # why this choice was made, when it was not the one asked for
    rounds: int = 0  # rounds: how many the sweep ran
    relay: bool = False  # rounds: timed a few batches at a time in turn (bench.timing.relay), not pass after pass
    shuffled_steps: bool = False  # relay: each step's order drawn afresh (not one fixed order the whole round)

    def _block(self, record: dict) -> dict | None:
        """The speed block (timing rounds) this measure reads: the task's, or the grid point's when the grid was
        timed in rounds (`rounds` > 0); None for one-pass measures."""
        if self.kind == "rounds":
            return record.get("speed")
        if self.kind == "fixed-shape" and self.rounds:
            return (point_at(record, self.shape) or {}).get("speed")
        return None

    def of(self, record: dict) -> float | None:
        if self.kind == "rounds" or (self.kind == "fixed-shape" and self.rounds):
            return (self._block(record) or {}).get("examples_per_s")
        if self.kind == "task":
            block = ((record.get("accuracy") or {}).get("task_throughput") or {}).get(self.policy)
            return block["examples_per_s"] if block else None
        point = point_at(record, self.shape)
        return point["throughput"] if point else None

    def interval(self, record: dict) -> Interval:
        """The 95% interval of `of(record)`; None where this measure has none."""
        ci = (self._block(record) or {}).get("examples_per_s_ci95")
        return (ci[0], ci[1]) if ci else None

    def ratio(self, base: dict, variant: dict) -> tuple[float, Interval] | None:
        """`variant` over `base` (> 1: faster), with its 95% interval when both were timed in the same rounds
        (bench.timing.speed.speedup: rounds, then batches); None when either has no throughput."""
        if not self.of(base) or not self.of(variant):
            return None
        base_block, variant_block = self._block(base), self._block(variant)
        if base_block and variant_block and base["cell_id"] in variant_block["members"]:
            from bench.timing.speed import speedup

            return speedup(base_block, variant_block)
        return self.of(variant) / self.of(base), None  # type: ignore[operator]

    @property
    def in_rounds(self) -> bool:
        """Read from timing rounds (intervals on values and ratios): the task's sample, or a rounds-timed grid."""
        return self.kind == "rounds" or (self.kind == "fixed-shape" and self.rounds > 0)

    @property
    def unit(self) -> str:
        return "seq/s" if self.kind == "fixed-shape" else "examples/s"

    @property
    def caption(self) -> str:
        if self.kind == "rounds":
            return (f"task throughput in timing rounds: examples/s over a sample of each task's scored batches "
                    f"(**{self.policy}** batching), {self.rounds} rounds, {self.round_method}; model time only; 95% "
                    "intervals on examples/s and on every speedup from a two-level bootstrap (rounds, then batches)")
        if self.kind == "task":
            return (f"task throughput: examples/s over each task's own test inputs, **{self.policy}** batching, "
                    "model time only (tokenisation timed apart); one pass per variant, no interval")
        if self.shape is None:
            return "fixed-shape throughput: no timing data"
        shape = f"sequences/s of synthetic batches padded to batch {self.shape[0]} x sequence length {self.shape[1]}"
        if self.rounds:
            return (f"fixed-shape throughput in timing rounds: {shape}, {self.rounds} rounds, the same processes and "
                    "relay as the task's sample; 95% intervals on sequences/s and on every speedup from a two-level "
                    "bootstrap (rounds, then batches)")
        return f"fixed-shape throughput: {shape}; one timed pass per cell, no interval"

    @property
    def round_method(self) -> str:
        return ("every variant of a task a fresh process per round, all timed a few batches at a time in turn (a "
                "relay), the order rotated" + (" and each step's order shuffled" if self.shuffled_steps else "")
                if self.relay else
                "every variant of a task a fresh process per round, one whole pass after another, the order rotated")

    @property
    def short(self) -> str:
        if self.kind == "rounds":
            return f"{self.rounds} rounds, {self.policy} batching"
        if self.kind == "task":
            return f"{self.policy} batching"
        if not self.shape:
            return "no timing"
        return f"batch {self.shape[0]} x seq {self.shape[1]}" + (f", {self.rounds} rounds" if self.rounds else "")


def _interleave(record: dict) -> dict:
    """How a cell's relay rounds ordered their steps ({} for whole-pass rounds and older records)."""
    return (record["speed"].get("settings") or {}).get("interleave") or {}


def interval_text(ci: Interval, fmt: str) -> str:
    """A 95% interval as `[low, high]`, "-" where the measure has none."""
    return f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]" if ci else "-"


def speed_text(value: float, ci: Interval) -> str:
    """Examples/s with its 95% interval where the measure has one: `412.3 [398.1, 425.0]`."""
    return f"{value:.1f}" + (f" {interval_text(ci, '.1f')}" if ci else "")


def times_text(value: float, ci: Interval) -> str:
    """A speedup with its 95% interval where the measure has one: `1.42x [1.31, 1.55]`."""
    return f"{value:.2f}x" + (f" {interval_text(ci, '.2f')}" if ci else "")


THROUGHPUT_KINDS = ("rounds", "task", "fixed-shape")


def choose_throughput(records: list[dict], kind: str = "rounds", policy: str | None = None) -> Throughput:
    """The throughput a report or `bench best` reads: the timing rounds when every cell with accuracy has them;
    else task throughput under the run's scored policy (or `policy`) when every such cell measured it; else the
    fixed-shape grid. A fallback carries a note saying why."""
    from models.errors import UserError

    if kind not in THROUGHPUT_KINDS:
        raise UserError(f"--throughput is one of {', '.join(THROUGHPUT_KINDS)}, not '{kind}'")
    shape = default_shape(records)
    timed_grid = grid_rounds(records, shape)  # grid rounds exist only as relay rounds with shuffled steps
    fixed = Throughput("fixed-shape", shape=shape, rounds=timed_grid, relay=bool(timed_grid),
                       shuffled_steps=bool(timed_grid))
    if kind == "fixed-shape":
        return fixed
    cells = [r for r in ok_cells(records) if has_accuracy(r)]
    timed = [r for r in cells if (r.get("speed") or {}).get("examples_per_s")]
    if kind == "rounds" and policy is None and cells and len(timed) == len(cells):
        policies = [r["accuracy"].get("batching") for r in cells]
        return Throughput("rounds", policy=max(set(policies), key=policies.count),
                          rounds=min(len(r["speed"]["rounds"]) for r in cells),
                          relay=all(_interleave(r) for r in cells),
                          shuffled_steps=all(_interleave(r).get("step_order") == "shuffled" for r in cells))
    no_rounds = ("" if kind != "rounds" or policy is not None else
                 "no timing rounds in this run (bench sweep --rounds N, N >= 3, gives intervals); " if not timed else
                 f"timing rounds in {len(timed)} of {len(cells)} cells only; ")
    task = _task_throughput(cells, policy, fixed, no_rounds)
    return task


def _task_throughput(cells: list[dict], policy: str | None, fixed: Throughput, no_rounds: str) -> Throughput:
    from models.errors import UserError

    measured = [set((r["accuracy"].get("task_throughput") or {})) for r in cells]
    common = set.intersection(*measured) if measured else set()
    if policy is not None:
        if policy not in common:
            raise UserError(f"no task throughput under '{policy}' batching in every cell of this run "
                            f"(measured: {', '.join(sorted(common)) or 'none'}); rerun the sweep with --batching")
        return Throughput("task", policy=policy)
    scored = [r["accuracy"].get("batching") for r in cells if r["accuracy"].get("batching") in common]
    if scored:
        note = f"{no_rounds}task throughput of one pass shown, without intervals" if no_rounds else ""
        return Throughput("task", policy=max(set(scored), key=scored.count), note=note)
    why = ("no cell has accuracy" if not cells else "its cells were measured before task throughput existed "
           "(schema < 3)" if not any(measured) else "its cells measured no batching policy in common")
    return Throughput("fixed-shape", shape=fixed.shape, rounds=fixed.rounds, relay=fixed.relay,
                      shuffled_steps=fixed.shuffled_steps, note=f"{no_rounds}task throughput unavailable ({why}); "
                                                              "fixed-shape throughput shown instead")
