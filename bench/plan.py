"""A sweep cell's plan: every setting of one model x backend x task cell, typed and frozen. The sweep driver builds
it once from the command line or the sweep config (its backend looked up and resolved once, `BackendChoice`); it
travels as it is, `to_dict()` as JSON, to the cell's process and to a Ray task, and comes back with `from_dict`,
which refuses a missing or unknown key instead of guessing a default. The dict keeps the flat keys a cell spec
has always had, so what a record's `dependencies.settings` holds (bench.dependencies.SETTINGS) is unchanged."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bench.harness import TimingConfig
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
    threads: int  # fixed by the plan, the same on every node (bench.sweep.planned_threads)
    timing: TimingConfig
    eval_batch_size: int
    batching: tuple[str, ...]
    max_tokens: int | None
    min_agreement: float | None
    predictions_dir: str | None
    round_batches: int  # batches of the scored pass kept for the performance run's rounds (bench.rounds); 0: none

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
