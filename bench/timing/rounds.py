"""The sweep's performance run (MLPerf's performance mode, after the accuracy mode, on the same artifacts): per task
and scored example set, every variant is timed again in **rounds**. Each round runs a fresh process per variant over
the same real batches (a sample of the batches its accuracy pass scored, `BatchSample`), timed a few batches at a
time in turn (a relay, bench.timing.relay), the loading order rotated from round to round and each step's order
shuffled; every variant of the group, the eager fp32 references included, is in every round, so drift and
process-to-process differences fall on both sides of every ratio. Per-batch model times are kept with the round,
the position in the order and the process id, and so is how busy the machine was (`noise`): the CPU time other
processes took while the round timed, and the load average.

The fixed-shape grid is timed the same way: each grid point's synthetic batches (`GRID_BATCHES` of them, saved by
the cell beside the scored sample) are timed in the same processes and relay as the sample, and each grid point of
each cell's record gets a `speed` block of its own (sequences/s with its interval).

Ratios carry a two-level bootstrap interval (rounds, then batches; `bench.timing.speed`), as `bench run`'s do.
Rounds are appended to `rounds.jsonl` as they finish, so an interrupted performance run resumes with the rounds that
completed for the same members and settings; each cell's record then gets its `speed` block."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROUNDS_FILE = "rounds.jsonl"
BATCHES_FILE = "timing-batches.npz"  # in each cell's predictions folder
GRID_FILE = "timing-grid-{shape}.npz"  # beside it, one per point of the fixed-shape grid ("8x128")
# Synthetic batches per grid point (seeds 0..5; the cell's one timed pass uses seed 0): one shape, so the spread
# between them is timing noise only, and six give the bootstrap enough batches to resample within a round.
GRID_BATCHES = 6
# A round is "disturbed" when other processes took more than this many cores on average while it timed (from
# /proc/stat, the relay's own CPU time subtracted): on a 2-core machine half a core elsewhere already moves eager
# PyTorch by tens of percent. Disturbed rounds are flagged in the record and listed at the end of the sweep.
DISTURBED_CORES = 0.5
CONTROL = "#control"  # suffix of the control member: the reference artifact timed a second time in every round


class BatchSample:
    """An evenly spaced, deterministic sample of one pass's batches, with bounded memory: every `stride`-th batch is
    kept, the stride doubling whenever twice the target is held. The same batches come out for every variant of one
    checkpoint and task (batching depends on token lengths only)."""

    def __init__(self, target: int):
        self.target, self.stride, self.seen = target, 1, 0
        self.kept: list[tuple[int, np.ndarray, np.ndarray]] = []  # (index, ids, lengths)

    def offer(self, ids: np.ndarray, mask: np.ndarray) -> None:
        if self.seen % self.stride == 0:
            self.kept.append((self.seen, ids.astype(np.int32), mask.sum(axis=1).astype(np.int32)))
            if len(self.kept) >= 2 * self.target:
                self.stride *= 2
                self.kept = [k for k in self.kept if k[0] % self.stride == 0]
        self.seen += 1

    def batches(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if not self.kept:
            return []
        picks = sorted(set(np.linspace(0, len(self.kept) - 1, min(self.target, len(self.kept))).round().astype(int)))
        return [(self.kept[i][1], self.kept[i][2]) for i in picks]

    def save(self, path: Path, examples: int, sequences: int, artifact: Path) -> None:
        """The sample, what it stands for (`examples` and `sequences` of the whole scored pass) and the artifact that
        scored it (which the rounds load)."""
        save_batches(path, self.batches(), examples, sequences, self.seen, artifact)


def save_batches(path: Path, batches: list[tuple[np.ndarray, np.ndarray]], examples: int, sequences: int,
                 pass_batches: int, artifact: Path) -> None:
    """One timing set as `bench.timing.relay.load_batches` reads it: (ids, lengths) per batch, what the batches stand
    for and the artifact that times them."""
    import io

    from models.files import write_bytes_atomic

    arrays: dict[str, np.ndarray] = {"examples": np.asarray(examples), "sequences": np.asarray(sequences),
                                     "pass_batches": np.asarray(pass_batches), "artifact": np.asarray(str(artifact))}
    for n, (ids, lengths) in enumerate(batches):
        arrays[f"ids_{n}"], arrays[f"lengths_{n}"] = ids.astype(np.int32), lengths.astype(np.int32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    write_bytes_atomic(Path(path), buffer.getvalue())


def grid_name(batch_size: int, seq_len: int) -> str:
    return f"{batch_size}x{seq_len}"


def save_grid(folder: Path, checkpoint: Any, artifact: Path, shapes: list[tuple[int, int]]) -> None:
    """Each grid point's synthetic batches (the cell's one timed pass's batch first), for the rounds to time."""
    from export.inputs import TokenSpec, synthetic_batch

    spec = TokenSpec.of(checkpoint)
    for batch_size, seq_len in shapes:
        batches = [synthetic_batch(spec, batch_size, seq_len, seed=n) for n in range(GRID_BATCHES)]
        save_batches(Path(folder) / GRID_FILE.format(shape=grid_name(batch_size, seq_len)),
                     [(b["input_ids"], b["attention_mask"].sum(axis=1)) for b in batches],
                     batch_size * GRID_BATCHES, batch_size * GRID_BATCHES, GRID_BATCHES, artifact)


def timing_sets(record: dict[str, Any], folder: Path) -> dict[str, Path]:
    """What the rounds time for one finished cell: "task" (the scored sample) and each grid point, where saved."""
    sets = {"task": Path(folder) / BATCHES_FILE}
    for point in record.get("performance") or []:
        name = grid_name(point["batch_size"], point["seq_len"])
        sets[name] = Path(folder) / GRID_FILE.format(shape=name)
    return {name: path for name, path in sets.items() if path.is_file()}


class RoundsStore:
    """rounds.jsonl: one line per variant per round, appended and synced as each finishes (a torn last line is cut
    off before the next append, as in bench.records.store)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ROUNDS_FILE

    def lines(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_bytes().split(b"\n"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line: its turn is timed again
        return out

    def append(self, entry: dict[str, Any]) -> None:
        from bench.records.store import append_line

        append_line(self.path, (json.dumps(entry) + "\n").encode("utf-8"))


def group_key(cell: dict[str, Any], scored: dict[str, Any]) -> str:
    """Cells compared with each other in rounds: one task on one example set (languages, split, cap)."""
    return json.dumps({"task": cell["task"], **scored}, sort_keys=True)


def run_rounds(cfg: Any, store: Any, specs: dict[str, dict[str, Any]], log: Callable[[str], None]) -> list[str]:
    """Time every group of finished cells in `cfg.rounds` rounds (each a relay, bench.timing.relay) and give each
    cell its `speed` block (and each of its grid points theirs). Returns one line per disturbed round turn."""
    from bench.timing.relay import SLICE_BATCHES, RoundJob, relay_round

    if cfg.rounds < 1:
        return []
    if cfg.executor != "local" and cfg.ray_address not in (None, "local"):
        log("timing rounds skipped: they run on the driver's machine, and the cells' artifacts are on the cluster's "
            "nodes (run the sweep with the local executor there for intervals)")
        return []
    finished = store.finished()
    scored = cfg.scored_examples()
    groups: dict[str, list[str]] = {}
    sets: dict[str, dict[str, Path]] = {}  # cell -> what its rounds time (timing_sets)
    for cell_id, record in finished.items():
        spec = specs.get(cell_id)
        if spec is None or record.get("status") != "ok" or not spec.get("predictions_dir"):
            continue
        sets[cell_id] = timing_sets(record, Path(spec["predictions_dir"]))
        if sets[cell_id]:
            groups.setdefault(group_key(record, scored[f"{record['model']}|{record['task']}"]), []).append(cell_id)
    rounds_store = RoundsStore(cfg.out)
    turn_limit = cfg.timeout if cfg.round_timeout is None else cfg.round_timeout  # --round-timeout, else --timeout
    disturbed: list[str] = []
    failed: list[str] = []
    settings = {"rounds": cfg.rounds, "round_batches": cfg.round_batches, "round_min_time": cfg.round_min_time,
                "control": cfg.control, "disturbed_cores": DISTURBED_CORES, "grid_batches": GRID_BATCHES,
                "interleave": {"slice_batches": SLICE_BATCHES, "warm_call": True, "settle": True,
                                "step_order": "shuffled"}}
    for key, cells in groups.items():
        cells = sorted(cells)
        members = cells + [c + CONTROL for c in cells if cfg.control and finished[c]["backend"] == "eager"]
        digest = hashlib.sha256(json.dumps([key, members, settings, [finished[c].get("timestamp") for c in cells],
                                            [sorted(sets[c]) for c in cells]]).encode()).hexdigest()[:16]
        if all(_timed_in(finished[c], digest) for c in cells):
            continue  # timed in full under these members and settings (a resumed sweep)
        turns = {(e["round"], e["member"]): e for e in rounds_store.lines() if e.get("group_digest") == digest}
        task = json.loads(key)["task"]
        for r in range(cfg.rounds):
            order = [m for m in members[r % len(members):] + members[:r % len(members)] if (r, m) not in turns]
            if not order:
                continue  # a completed round of an interrupted run
            log(f"timing round {r + 1} of {cfg.rounds}: {task}, {len(order)} variant(s) in turn ...")
            jobs = {m: RoundJob(cfg.device, specs[m.removesuffix(CONTROL)]["threads"],
                                tuple(str(path) for path in sets[m.removesuffix(CONTROL)].values()))
                    for m in order}
            # --round-timeout (else the sweep's --timeout) bounds each variant's turn: a hung turn costs that turn only
            # each step's order drawn afresh, seeded by group and round: a rerun repeats the same orders
            results, failures = relay_round(jobs, order, cfg.round_min_time, turn_limit, seed=int(digest, 16) + r)
            for member, why in failures.items():
                failed.append(f"{member} round {r + 1}: {why}")
                log(f"round turn failed: {failed[-1]}")
            for position, member in enumerate(order):
                if member in results:
                    result = dict(results[member])
                    per_set = _split_sets(list(sets[member.removesuffix(CONTROL)]), result.pop("batch_seconds"),
                                          result.pop("set_sizes"))
                    entry = {"group_digest": digest, "round": r, "position": position, "member": member, **result,
                             "batch_seconds": per_set.pop("task", []), "grid_seconds": per_set,
                             "disturbed": results[member]["noise"]["others_cpu_cores"] > DISTURBED_CORES}
                    rounds_store.append(entry)
                    turns[(r, member)] = entry
        # a group with missing turns says so in each speed block; a rerun of the same command times those turns
        failed_turns = cfg.rounds * len(members) - len(turns)
        for cell_id in cells:
            if not any(m == cell_id for _, m in turns):
                continue  # not one turn timed: no speed block (a rerun of the same command times it again)
            record = dict(finished[cell_id])
            block = _block_maker(cell_id, members, turns, digest, settings, failed_turns)
            if "task" in sets[cell_id]:
                record["speed"] = block(sets[cell_id]["task"], None)
            record["performance"] = [dict(point) for point in record.get("performance") or []]
            for point in record["performance"]:
                name = grid_name(point["batch_size"], point["seq_len"])
                if name in sets[cell_id]:
                    point["speed"] = block(sets[cell_id][name], name)
            store.put(record)
        disturbed += [f"{t['member']} round {t['round'] + 1}: other processes took "
                      f"{t['noise']['others_cpu_cores']:.2f} cores" for t in turns.values() if t["disturbed"]]
    if failed:
        log(f"{len(failed)} round turn(s) failed (their variants' intervals use the rounds that finished; run the "
            f"same command again to time the missing turns): {'; '.join(failed[:3])}"
            + (" ..." if len(failed) > 3 else ""))
    return disturbed


def _timed_in(record: dict[str, Any], digest: str) -> bool:
    """Whether a cell's speed blocks (task and grid) all come from complete rounds of this group digest."""
    blocks = [record.get("speed")] + [point.get("speed") for point in record.get("performance") or []]
    present = [b for b in blocks if b]
    return bool(present) and all(b.get("group_digest") == digest and not b.get("failed_turns") for b in present)


def _split_sets(names: list[str], seconds: list[float], sizes: list[int]) -> dict[str, list[float]]:
    """A turn's per-batch seconds, split into the timing sets its process loaded one after another."""
    bounds = np.cumsum([0, *sizes])
    return {name: seconds[bounds[i]:bounds[i + 1]] for i, name in enumerate(names)}


METHOD = ("rounds: a fresh process per variant and round over the same sampled batches of the scored pass, timed a few "
          "batches at a time in turn (a relay: an untimed call before each step, threads settled after it), order "
          "rotated per round, each step's order shuffled; examples/s = sampled sequences/s x examples per sequence of "
          "the pass; 95% interval: two-level bootstrap (rounds, then batches)")
GRID_METHOD = (f"rounds: the grid point's {GRID_BATCHES} synthetic batches timed in the same processes and relay as "
               "the task's sample (fresh process per variant and round, a few batches at a time in turn, order "
               "rotated per round, each step's order shuffled); sequences/s; 95% interval: two-level bootstrap "
               "(rounds, then batches)")


def _block_maker(cell_id: str, members: list[str], turns: dict, digest: str, settings: dict,
                 failed_turns: int) -> Callable[[Path, str | None], dict[str, Any]]:
    """Builds one speed block of `cell_id` per timing set: the task's sample (`grid` None) or a grid point."""
    from bench.timing.relay import load_batches
    from bench.timing.speed import speed_rounds, throughput

    def block(batches_path: Path, grid: str | None) -> dict[str, Any]:
        batches, totals, batch_digest = load_batches(batches_path)

        def rounds_of(member: str) -> list[dict[str, Any]]:
            keys = ("round", "position", "pid", "passes", "noise", "disturbed", "threads", "idle_cpu_s", "unsettled")
            return [{**{k: t[k] for k in keys if k in t},
                     "batch_seconds": t["grid_seconds"][grid] if grid else t["batch_seconds"]}
                    for (r, m), t in sorted(turns.items()) if m == member]

        out: dict[str, Any] = {
            "group_digest": digest, "settings": settings, "members": members, "batch_digest": batch_digest,
            "batches": len(batches), "batch_sequences": [len(ids) for ids, _ in batches],
            "sampled_sequences": int(sum(len(ids) for ids, _ in batches)),
            "examples": totals["examples"], "sequences": totals["sequences"], "pass_batches": totals["pass_batches"],
            "rounds": rounds_of(cell_id), "method": GRID_METHOD if grid else METHOD, "failed_turns": failed_turns}
        if grid:
            out["grid"] = grid
        if cell_id + CONTROL in members:
            out["control"] = rounds_of(cell_id + CONTROL)
        value, ci = throughput(out, speed_rounds(out))
        out["examples_per_s"], out["examples_per_s_ci95"] = value, list(ci) if ci else None
        return out

    return block
