"""A sweep cell's plan: every setting of one model x backend x task cell, typed and frozen. The sweep driver builds
it once from the command line or the sweep config (its backend looked up and resolved once, `BackendChoice`); it
travels as it is, `to_dict()` as JSON, to the cell's process and to a Ray task, and comes back with `from_dict`,
which refuses a missing or unknown key instead of guessing a default. The dict keeps the flat keys a cell spec
has always had, so what a record's `dependencies.settings` holds (bench.records.dependencies.SETTINGS) is unchanged."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.timing.harness import TimingConfig
from export.choice import BackendChoice
from models.errors import UserError


@dataclass(frozen=True)
class CellPlan:
    cell_id: str  # model|backend|task, as given (the label names the cell in records and reports)
    model: str  # a size name, a hub id, or an absolute checkpoint path (the cell may run elsewhere)
    backend: str  # the variant label: a backend, or BACKEND[KEY=VALUE;...]
    task: str
    choice: BackendChoice  # the label's backend, looked up once and its options resolved once by the driver
    device: str
    langs: tuple[str, ...] | None  # None: every language of the task
    split: str
    max_examples: int | None
    data_dir: str | None  # absolute; None: the hub's google/xtreme
    batch_sizes: tuple[int, ...]
    seq_lens: tuple[int, ...]
    random_init: bool
    threads: int  # fixed by the plan, the same on every node (planned_threads)
    timing: TimingConfig
    eval_batch_size: int
    batching: tuple[str, ...]
    max_tokens: int | None
    min_agreement: float | None
    predictions_dir: str | None
    round_batches: int  # batches of the scored pass kept for the timing rounds (bench.timing.rounds); 0: none

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        out["choice"], out["timing"] = self.choice.to_dict(), dataclasses.asdict(self.timing)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CellPlan":
        names = [f.name for f in dataclasses.fields(cls)]
        missing, unknown = sorted(set(names) - set(data)), sorted(set(data) - set(names))
        if missing or unknown:
            raise UserError("a cell plan " + (f"lacks {', '.join(missing)}" if missing else "") +
                            ("; " if missing and unknown else "") + (f"has unknown {', '.join(unknown)}" if unknown
                                                                     else "") +
                            ": it was written by another version of stilts-bench (start the sweep again)")
        values = dict(data)
        for key in ("langs", "batch_sizes", "seq_lens", "batching"):
            if values[key] is not None:
                values[key] = tuple(values[key])
        values["choice"] = BackendChoice.from_dict(values["choice"])
        values["timing"] = TimingConfig(**values["timing"])
        return cls(**values)

    @property
    def language_list(self) -> list[str] | None:
        return list(self.langs) if self.langs is not None else None


def planned_threads(cfg: Any) -> int:
    """Every cell's thread count, fixed by the sweep's plan (--threads, else the driver's physical cores): the same
    on every node, and what a Ray cell reserves there. `cfg`: a bench.commands.sweep.SweepConfig."""
    from bench.records.env import default_threads

    return cfg.threads or default_threads()


def _absolute(model: str) -> str:
    """A model given as a path, made absolute: the cell may run in another directory (or on another node)."""
    return str(Path(model).resolve()) if Path(model).exists() else model


def sweep_cell_plan(cfg: Any, cell: dict[str, Any], scored: dict[str, Any], choice: BackendChoice) -> CellPlan:
    """The plan of one cell of a sweep (`cfg`: its bench.commands.sweep.SweepConfig). `scored`: the langs,
    max_examples and split of the cell's model and task (SweepConfig.scored_examples); `choice`: its backend label looked up and
    resolved once for the whole sweep."""
    return CellPlan(
        cell_id=cell["cell_id"], model=_absolute(cell["model"]), backend=cell["backend"], task=cell["task"],
        choice=choice, device=cfg.device, langs=tuple(scored["langs"]) if scored["langs"] is not None else None,
        split=scored["split"], max_examples=scored["max_examples"],
        data_dir=str(cfg.data_dir.resolve()) if cfg.data_dir else None,
        batch_sizes=tuple(cfg.batch_sizes), seq_lens=tuple(cfg.seq_lens), random_init=cfg.random_init,
        threads=planned_threads(cfg), timing=cfg.timing, eval_batch_size=cfg.eval_batch_size,
        batching=tuple(cfg.batching), max_tokens=cfg.max_tokens, min_agreement=cfg.min_agreement,
        predictions_dir=str(cfg.out.resolve() / "predictions" / cell["cell_id"].replace("|", "__").replace("/", "_")),
        round_batches=cfg.round_batches if cfg.rounds else 0,
    )
