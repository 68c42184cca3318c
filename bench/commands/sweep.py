"""`bench sweep`: model x backend x task cells, each in its own process (accuracy once, then the timing
grid, on one artifact), recorded in a JSON-lines store that a re-run resumes from."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.config import (batching_option, csv, data_dir_option, device_option, int_list, langs_option,
                          max_examples_option, max_tokens_option, option, split_option, threads_option)
from bench.timing.harness import TimingConfig
from bench.executors.plan import planned_threads, sweep_cell_plan
from bench.records.resume import changed_cells, check_settings, measurement_settings, record_wall_time
from bench.records.schema import sweep_cell_record
from bench.timing.rounds import DISTURBED_CORES, run_rounds
from bench.records.store import CONFIG_FILE, ResultStore
from models.errors import UserError
from models.files import write_json_atomic


@dataclass
class SweepConfig:
    out: Path | None = option(None, "run directory, e.g. runs/NAME (or 'out' in --config)")
    models: list[str] = option(help="comma-separated models", parse=csv, default_factory=lambda: ["demo"])
    backends: list[str] = option(help="comma-separated; eager is always added as the reference", parse=csv,
                                 default_factory=lambda: ["eager"])
    tasks: list[str] = option(help="comma-separated tasks", parse=csv, default_factory=lambda: ["tatoeba"])
    langs: list[str] | None = langs_option()
    batch_sizes: list[int] = option(help="batch sizes of the timing grid", parse=int_list, repeat=True,
                                    default_factory=lambda: [1, 8])
    seq_lens: list[int] = option(help="sequence lengths of the timing grid", parse=int_list, repeat=True,
                                 default_factory=lambda: [128])
    tolerance: float | None = option(None, "gate: max average drop in points", shown_default="1")
    relative: float | None = option(None, "gate: min ratio of the reference, e.g. 0.99 (instead of --tolerance)")
    device: str = device_option()
    data_dir: Path | None = data_dir_option()
    split: str = split_option()
    random_init: bool = option(False, "random weights of each size's architecture (throughput only)")
    threads: int | None = threads_option()
    timeout: float | None = option(None, "seconds per cell before it is recorded as failed")
    retry_failed: bool = option(False, "re-run cells recorded as failed")
    rerun_changed: bool = option(False, "re-measure the finished cells whose dependencies changed (checkpoint, data "
                                        "files, calibration text, settings, packages, source, CPU), keep the rest")
    timing: TimingConfig = field(default_factory=TimingConfig)
    rounds: int = option(3, "performance run after the accuracy cells: rounds of a task's variants (fresh processes, "
                            "the same scored batches timed a few at a time in turn, order shuffled; 0: none)")
    round_batches: int = option(24, "batches of each cell's scored pass (an even sample) that every round times")
    round_min_time: float = option(1.0, "seconds each variant times per round at least (the sample runs again)")
    round_timeout: float | None = option(None, "seconds a variant's turn in a round may take before it is killed",
                                         shown_default="--timeout")
    control: bool = option(False, "time each eager reference twice in every round (a control: its ratio's "
                                  "interval should contain 1.00)")
    eval_batch_size: int = option(32, "inputs per forward call in the accuracy pass")
    batching: list[str] = batching_option()
    max_tokens: int | None = max_tokens_option()
    max_examples: int | None = max_examples_option()
    executor: str = option("local", "where cells run: local (one after another, here) or ray (a Ray cluster; "
                                    'pip install -e ".[ray]")', choices=["local", "ray"])
    ray_address: str | None = option(None, "Ray cluster address, e.g. ray://head:10001 or auto",
                                     shown_default="start a local Ray instance")
    exclusive: bool = option(False, "ray: one cell per node at a time (no cell is timed beside another)")
    min_agreement: float | None = option(None, "parity bound: least agreement with eager fp32 for a cell to "
                                               "pass (0..1)", shown_default="each backend's")
    # Config file only ([[groups]] tables): pairs of models and tasks that belong together, each with its own
    # backends and optionally langs, max_examples and split (a QA head on QA tasks, a tagger on its task; BUCC
    # needs a larger cap than Tatoeba, and its dev split). Without groups: every model x backend x task.
    groups: list[dict] = field(default_factory=list)
    command: str = ""

    def __post_init__(self):
        if self.groups:  # sweep.json's models, backends and tasks then list what the groups hold
            plan = self.plan()
            for key in GROUPED:
                setattr(self, key, list(dict.fromkeys(v for g in plan for v in g[key])))

    @classmethod
    def from_file(cls, path: Path, **overrides) -> "SweepConfig":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise UserError(f"cannot read sweep config {path}: {e}") from None
        try:
            if Path(path).suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            else:
                import tomllib

                data = tomllib.loads(text)
        except Exception as e:  # noqa: BLE001 - TOML and YAML raise their own error types
            raise UserError(f"{path}: not valid {'YAML' if Path(path).suffix in ('.yaml', '.yml') else 'TOML'} "
                            f"({str(e).splitlines()[0]})") from None
        known = set(cls.__dataclass_fields__) - {"command"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"{path}: unknown sweep setting(s) {', '.join(unknown)}")
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if data.get("groups"):
            both = sorted(k for k in GROUPED if k in data or k in overrides)
            if both:
                raise UserError(f"{path}: {', '.join(both)} belong inside each [[groups]] table when the config has "
                                "groups (or drop the groups)")
        data.update(overrides)
        if "out" not in data:
            raise UserError(f"{path}: set 'out' (the run directory) in the file or with --out")
        for key in ("out", "data_dir"):
            if data.get(key) is not None:
                data[key] = Path(data[key])
        timing = data.pop("timing", None) or {}
        if not isinstance(timing, dict) or set(timing) - set(TimingConfig.__dataclass_fields__):
            raise UserError(f"{path}: 'timing' takes {', '.join(TimingConfig.__dataclass_fields__)}")
        return cls(**data, timing=TimingConfig(**timing))

    def gate(self) -> dict:
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 1:
            raise UserError(f"--min-agreement is a fraction of the parity inputs, 0 to 1, not {self.min_agreement:g}")
        if self.tolerance is not None and self.relative is not None:
            raise UserError("give --tolerance POINTS or --relative RATIO, not both")
        if self.relative is not None:
            if not 0 < self.relative <= 1:
                raise UserError("--relative is a ratio of the reference in (0, 1], e.g. 0.99")
            return {"mode": "relative", "ratio": self.relative}
        return {"mode": "absolute", "points": 1.0 if self.tolerance is None else self.tolerance}

    def plan(self) -> list[dict]:
        """The groups, checked, each with every key filled in (the top-level settings without groups)."""
        if not self.groups:
            return [{"models": self.models, "backends": self.backends, "tasks": self.tasks, "langs": self.langs,
                     "max_examples": self.max_examples, "split": self.split}]
        if not isinstance(self.groups, list):
            raise UserError("groups: expected [[groups]] tables")
        plan = []
        for n, group in enumerate(self.groups, 1):
            if not isinstance(group, dict):
                raise UserError(f"groups #{n}: expected a table with {', '.join(GROUP_KEYS)}")
            unknown = sorted(set(group) - set(GROUP_KEYS))
            missing = [k for k in GROUPED if not group.get(k)]
            if unknown or missing:
                raise UserError(f"groups #{n}: " + (f"unknown key(s) {', '.join(unknown)}" if unknown else
                                                    f"needs {', '.join(missing)}") +
                                f"; a group takes {', '.join(GROUP_KEYS)}")
            for key in (*GROUPED, "langs"):
                value = group.get(key)
                if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    raise UserError(f"groups #{n}: {key} must be a list of names, not {value!r}")
            max_examples = group.get("max_examples", self.max_examples)
            if max_examples is not None and (not isinstance(max_examples, int) or max_examples < 1):
                raise UserError(f"groups #{n}: max_examples must be a positive integer, not {max_examples!r}")
            split = group.get("split", self.split)
            if split not in ("test", "dev"):
                raise UserError(f"groups #{n}: split is test or dev, not {split!r}")
            plan.append({**{k: group[k] for k in GROUPED}, "langs": group.get("langs", self.langs),
                         "max_examples": max_examples, "split": split})
        return plan

    def cells(self) -> list[dict]:
        cells, settings, seen = [], {}, set()
        by_task: dict[str, tuple[str, dict]] = {}  # task -> the first model scoring it, and on what
        for group in self.plan():
            backends = group["backends"] if "eager" in group["backends"] else ["eager", *group["backends"]]
            for m in group["models"]:
                for t in group["tasks"]:
                    scored = {k: group[k] for k in SCORED}
                    if settings.setdefault(f"{m}|{t}", scored) != scored:
                        raise UserError(f"{m} on {t} is in two groups with different {', '.join(SCORED)}")
                    # Like with like: the report compares the models of one task (averages, the frontier, best),
                    # which means something only over the same examples.
                    first, other = by_task.setdefault(t, (m, scored))
                    if other != scored:
                        changed = ", ".join(f"{k} {other[k]!r} vs {scored[k]!r}" for k in SCORED
                                            if other[k] != scored[k])
                        raise UserError(f"{t} is scored on different examples for {first} and {m} ({changed}); "
                                        f"a sweep compares one task's models on the same examples: give their "
                                        f"groups the same {', '.join(SCORED)}, or run two sweeps")
                    for b in backends:
                        if f"{m}|{b}|{t}" not in seen:  # two groups may share a backend for one pair
                            seen.add(f"{m}|{b}|{t}")
                            cells.append({"cell_id": f"{m}|{b}|{t}", "model": m, "backend": b, "task": t})
        return cells

    def scored_examples(self) -> dict[str, dict]:
        """"model|task" -> the langs, max_examples and split its cells score (groups may differ)."""
        return {f"{m}|{t}": {k: g[k] for k in SCORED}
                for g in self.plan() for m in g["models"] for t in g["tasks"]}


GROUPED = ("models", "backends", "tasks")  # what a group must name
SCORED = ("langs", "max_examples", "split")  # what a group may set for its own cells
GROUP_KEYS = (*GROUPED, *SCORED)


def run_sweep(cfg: SweepConfig, log=lambda m: print(m, file=sys.stderr)) -> list[dict]:
    from bench.timing.batching import check_policies
    from bench.tasks import get_task
    from bench.variants.prepare import check_calibration, choose_backend

    check_policies(cfg.batching, cfg.max_tokens)
    if cfg.rounds < 0 or cfg.round_batches < 1:
        raise UserError("--rounds must be >= 0 (0: no performance run) and --round-batches >= 1")
    choices: dict = {}  # variant label -> BackendChoice: each looked up and resolved once for the whole sweep
    for group in cfg.plan():
        tasks = [get_task(t) for t in group["tasks"]]  # unknown names fail before any work
        for label in ["eager", *group["backends"]]:  # unknown backends, options, calibration on a scored text
            if label not in choices:
                # whether it runs here is each cell's to say (a Ray node may have what the driver lacks)
                choices[label] = choose_backend(label, cfg.device, runnable=False)
            for task in tasks:
                check_calibration(choices[label], task, group["split"], group["langs"])
    cells = cfg.cells()  # a model and task in two groups with different scored examples fails here
    gate = cfg.gate()
    cfg.out.mkdir(parents=True, exist_ok=True)
    settings = measurement_settings(cfg, planned_threads(cfg))
    config_record = {**asdict(cfg), "out": str(cfg.out), "data_dir": str(cfg.data_dir) if cfg.data_dir else None,
                     "gate": gate, "measurement_settings": settings}
    config_path = cfg.out / CONFIG_FILE
    previous = json.loads(config_path.read_text()) if config_path.is_file() else {}
    if previous and not cfg.rerun_changed:  # with it, each finished cell's own dependencies decide (below)
        check_settings(cfg, previous, settings)
    config_record["commands"] = [*previous.get("commands", []), cfg.command]  # a resumed run keeps every command
    config_record["wall_times"] = previous.get("wall_times", [])  # and each one's wall time
    write_json_atomic(config_path, config_record)
    store = ResultStore(cfg.out)
    torn = store.repair()
    if torn:
        log(torn)
    done = store.finished()
    scored = cfg.scored_examples()  # once: each pair's group settings
    specs = {c["cell_id"]: sweep_cell_plan(cfg, c, scored[f"{c['model']}|{c['task']}"], choices[c["backend"]]).to_dict()
             for c in cells}
    changed = changed_cells(done, specs, node_specific_ok=cfg.executor != "local", log=log)
    if changed and not cfg.rerun_changed:
        cell_id, what = next(iter(changed.items()))
        more = len(changed) - 1
        raise UserError(f"{cfg.out}: {len(changed)} finished cell(s) depend on something that changed since they "
                        f"were measured: {what[0]}{f' (and {len(what) - 1} more)' if len(what) > 1 else ''}, e.g. "
                        f"cell {cell_id}{f' and {more} other cell(s)' if more else ''}; reusing them would mix "
                        "measurements: give a new --out for a new run, or add --rerun-changed to re-measure only "
                        "those cells")
    todo = [c for c in cells if c["cell_id"] not in done or c["cell_id"] in changed
            or (cfg.retry_failed and done[c["cell_id"]].get("status") != "ok")]
    if changed:
        log(f"re-measuring {len(changed)} cell(s) whose dependencies changed: {', '.join(changed)}")
    if len(todo) < len(cells):
        log(f"resuming: {len(cells) - len(todo)} of {len(cells)} cells already recorded in {store.path}")
    from bench.executors import get_executor
    from bench.executors.base import CellJob
    from bench.executors.process import end_processes, marked_processes

    executor = get_executor(cfg.executor, **({"address": cfg.ray_address, "exclusive": cfg.exclusive}
                                             if cfg.executor == "ray" else {}))
    resources = {"num_cpus": planned_threads(cfg), **({"num_gpus": 1} if cfg.device == "cuda" else {})}
    mark = str(cfg.out.resolve())  # every process of every cell carries it (bench.executors.process)
    jobs = [CellJob(cell, specs[cell["cell_id"]], cfg.timeout, resources, mark) for cell in todo]

    def finished(job: CellJob, result: dict) -> None:
        if result.get("error_kind") == "disk":  # not the cell's failure: never recorded, the resume runs it again
            raise UserError(f"cell {job.cell['cell_id']} could not write its outputs ({result['error']}); every cell "
                            "finished before it is kept: make room and run the same command to resume")
        record = sweep_cell_record(**job.cell, device=cfg.device, gate=gate, **result)
        store.put(record)
        if record["status"] != "ok":
            log(f"cell {job.cell['cell_id']} failed: {record['error'][:300]}")

    cells_started = time.monotonic()
    try:
        executor.run(jobs, finished, log)
    finally:  # whatever stopped the sweep, nothing of its cells runs on
        leftovers = marked_processes(mark)
        if leftovers:
            survivors = end_processes(leftovers)
            log(f"ended {len(leftovers) - len(survivors)} leftover process(es) of this sweep"
                + (f"; {len(survivors)} survived SIGKILL: {', '.join(map(str, survivors))}" if survivors else ""))
    rounds_started = time.monotonic()
    disturbed = run_rounds(cfg, store, specs, log)  # the performance run
    record_wall_time(config_path, config_record, cfg.command, len(todo), rounds_started - cells_started,
                     time.monotonic() - rounds_started, log)
    records = store.read()
    if disturbed:
        log(f"{len(disturbed)} round turn(s) ran while other processes took more than {DISTURBED_CORES} cores "
            f"(flagged in the records' speed.rounds; their intervals are wider): {'; '.join(disturbed[:5])}"
            + (" ..." if len(disturbed) > 5 else ""))
    beside = sorted({r["cell_id"] for r in records if (r.get("executor") or {}).get("ran_beside")})
    if beside:
        log(f"{len(beside)} cell(s) ran beside another cell on the same node (timings shared the machine; the "
            f"report flags them; --exclusive avoids it): {', '.join(beside)}")
    return records
