"""What a resumed sweep must keep: the run's measurement settings (sweep.json) and each finished cell's recorded
dependencies (bench.records.dependencies). A change is refused in one line naming it, or, with --rerun-changed, only the
cells it touches are measured again. `cfg` is the sweep's SweepConfig."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, cast

from models.errors import UserError
from models.files import write_json_atomic

MEASUREMENT_SETTINGS = ("device", "langs", "batch_sizes", "seq_lens", "data_dir", "split", "random_init", "threads",
                        "timing", "eval_batch_size", "batching", "max_tokens", "max_examples", "min_agreement")


def measurement_settings(cfg: Any, threads: int) -> dict[str, Any]:
    """What changes a cell's numbers: a resumed run must keep all of it, or its cells would mix settings.
    (Models, backends and tasks may grow: they add cells. The gate is derived at read time.)"""
    settings = {k: getattr(cfg, k) for k in MEASUREMENT_SETTINGS}
    settings.update(data_dir=str(cfg.data_dir) if cfg.data_dir else None, timing=asdict(cfg.timing),
                    threads=threads)
    if cfg.groups:  # per model and task; a resumed run may add pairs, never change one (see check_settings)
        settings["scored_examples"] = cfg.scored_examples()
    return cast(dict[str, Any], json.loads(json.dumps(settings)))  # as sweep.json stores it


def check_settings(cfg: Any, previous: dict[str, Any], settings: dict[str, Any]) -> None:
    before = previous.get("measurement_settings")
    if before is None:
        return  # a run written before settings were recorded: nothing to compare with
    before = {"min_agreement": None, **before}  # recorded since dependencies were
    changed = [k for k in settings if k != "scored_examples" and before.get(k) != settings[k]]
    earlier = before.get("scored_examples") or {}
    changed += [f"{pair} scored examples" for pair, scored in (settings.get("scored_examples") or {}).items()
                if pair in earlier and earlier[pair] != scored]
    if changed:
        k = changed[0]
        was, now = ((before.get(k), settings[k]) if k in settings else
                    (earlier[k.split()[0]], settings["scored_examples"][k.split()[0]]))
        raise UserError(f"{cfg.out} was measured with {k}={was!r}, this command asks for "
                        f"{now!r}{f' (and {len(changed) - 1} more setting(s))' if len(changed) > 1 else ''}; "
                        "its cells would mix settings: give a new --out for a new run, repeat the original "
                        "settings to resume, or add --rerun-changed to re-measure the cells this changes")


def changed_cells(done: dict[str, Any], specs: dict[str, dict[str, Any]], node_specific_ok: bool,
                  log: Callable[[str], None]) -> dict[str, list[str]]:
    """Finished cells of this plan whose recorded dependencies differ from now: cell_id -> what changed."""
    from bench.records.dependencies import changes

    changed, unchecked = {}, 0
    for cell_id, record in done.items():
        if cell_id not in specs or record.get("status") != "ok":
            continue
        if "dependencies" not in record:
            unchecked += 1
            continue
        what = changes(record["dependencies"], specs[cell_id], node_specific_ok=node_specific_ok)
        if what:
            changed[cell_id] = what
    if unchecked:
        log(f"{unchecked} finished cell(s) were recorded before dependencies were: resumed without checking them")
    return changed


def record_wall_time(config_path: Path, config_record: dict[str, Any], command: str, cells_run: int, cells_s: float,
                     rounds_s: float, log: Callable[[str], None]) -> None:
    """How long this command's accuracy cells and timing rounds took, kept in sweep.json beside the commands: the
    rounds' cost is what a sweep pays for ratios with intervals (a sweep without rounds ran only the first part)."""
    entry = {"command": command, "cells_run": cells_run, "accuracy_cells_s": round(cells_s, 1),
             "timing_rounds_s": round(rounds_s, 1)}
    config_record["wall_times"] = [*config_record.get("wall_times", []), entry]
    write_json_atomic(config_path, config_record)
    log(f"wall time: {cells_run} accuracy cell(s) {cells_s / 60:.1f} min, timing rounds {rounds_s / 60:.1f} min")
