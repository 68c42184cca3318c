"""The sweep's performance run (bench.timing.rounds): rounds over the same sampled batches, rotated order, a control
member, resumable rounds, and the two-level bootstrap on known per-batch times."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.timing.rounds import BatchSample
from bench.timing.speed import control_ratio, rounds_ratio, speedup
from bench.records.store import ResultStore
from tests.test_cli import FAST, bench
from tests.test_sweep import _tatoeba_dir


def test_batch_sample_is_even_deterministic_and_bounded():
    def sample() -> BatchSample:
        s = BatchSample(4)
        for n in range(100):
            ids = np.full((2, 3 + n % 5), n)
            s.offer(ids, np.ones_like(ids))
        return s

    a, b = sample(), sample()
    assert len(a.kept) < 8  # never more than twice the target held
    picked = [int(ids[0, 0]) for ids, _ in a.batches()]
    assert picked == [int(ids[0, 0]) for ids, _ in b.batches()] and len(picked) == 4
    assert picked[0] == 0 and picked[-1] >= 64  # spread over the whole pass, not its first batches


def test_rounds_ratio_recovers_a_known_speedup_and_its_interval_covers_it():
    rng = np.random.default_rng(1)
    base = [rng.uniform(0.9, 1.1, 30) * 2.0 for _ in range(4)]
    variant = [b / 2.0 * rng.uniform(0.95, 1.05, 30) for b in base]
    ratio, ci = rounds_ratio(base, variant, paired_batches=True)
    assert ratio == pytest.approx(2.0, rel=0.03)
    assert ci is not None and ci[0] < 2.0 < ci[1] and ci[1] - ci[0] < 0.2
    same, same_ci = rounds_ratio(base, [b.copy() for b in base], paired_batches=True)
    assert same == 1.0 and same_ci == (1.0, 1.0)  # identical times: no spread
    assert rounds_ratio(base[:1], variant[:1], paired_batches=True)[1] is None  # one round: no interval


@pytest.mark.slow
def test_a_sweep_times_every_variant_in_rotated_rounds_with_a_control_and_resumes_them(tiny_encoder, tmp_path):
    data, out = _tatoeba_dir(tmp_path), tmp_path / "runs" / "rounds"
    args = ["sweep", "--models", tiny_encoder, "--backends", "eager,onnx", "--tasks", "tatoeba", "--langs", "de",
            "--batch-sizes", "2", "--seq-lens", "16", "--data-dir", data, "--out", out, "--eval-batch-size", "4",
            "--rounds", "3", "--control", "--round-min-time", "0.2", *FAST]
    bench(*args, check_rc=0)
    records = {r["backend"]: r for r in ResultStore(out).read()}
    eager, onnx = records["eager"]["speed"], records["onnx"]["speed"]
    assert eager["batch_digest"] == onnx["batch_digest"] and eager["batches"] == 6  # 12 pairs, 4 per batch
    assert eager["examples"] == 12 and eager["sequences"] == 24
    assert [len(t["batch_seconds"]) for t in eager["rounds"]] == [6, 6, 6]
    assert len({t["pid"] for t in eager["rounds"] + onnx["rounds"] + eager["control"]}) == 9  # a process per turn
    orders = {}
    for line in (out / "rounds.jsonl").read_text().splitlines():
        entry = json.loads(line)
        orders.setdefault(entry["round"], {})[entry["position"]] = entry["member"]
    assert len(orders) == 3 and len({tuple(o[p] for p in sorted(o)) for o in orders.values()}) == 3  # rotated
    for r in range(3):  # a relay: one round's processes ran the same passes, and said what they cost while idle
        turns = [t for block in (eager["rounds"], onnx["rounds"], eager["control"]) for t in block if t["round"] == r]
        assert len({t["passes"] for t in turns}) == 1 and all(t["idle_cpu_s"] >= 0 for t in turns)
        assert len({json.dumps(t["noise"]) for t in turns}) == 1  # the round's noise reading, shared
    # each step's order shuffled: a fixed order would give every member one and the same predecessor
    predecessors: dict[str, set] = {}
    for line in (out / "rounds.jsonl").read_text().splitlines():
        entry = json.loads(line)
        predecessors.setdefault(entry["member"], set()).update(set(entry["preceded_by"]) - {entry["member"]})
    assert max(len(p) for p in predecessors.values()) == 2, predecessors  # of 3 members: both others
    from reports.throughput import choose_throughput
    chosen = choose_throughput(ResultStore(out).read())
    assert chosen.relay and "a few batches at a time in turn" in chosen.caption
    assert all(t["unsettled"] >= 0 for t in eager["rounds"])
    ratio, ci = speedup(eager, onnx)
    assert ratio > 0 and ci is not None and ci[0] <= ratio <= ci[1]
    control, control_ci = control_ratio(eager)
    assert control > 0 and control_ci is not None
    assert eager["examples_per_s_ci95"][0] <= eager["examples_per_s"] <= eager["examples_per_s_ci95"][1]
    _the_grid_was_timed_in_the_same_rounds(ResultStore(out).read(), out)
    walls = json.loads((out / "sweep.json").read_text())["wall_times"]
    assert [w["cells_run"] for w in walls] == [2] and walls[0]["timing_rounds_s"] > 0
    # resumed: nothing timed again, and the second invocation's wall time says it ran no cell
    before = (out / "rounds.jsonl").read_text()
    bench(*args, check_rc=0)
    assert (out / "rounds.jsonl").read_text() == before
    walls = json.loads((out / "sweep.json").read_text())["wall_times"]
    assert [w["cells_run"] for w in walls] == [2, 0] and walls[1]["timing_rounds_s"] < walls[0]["timing_rounds_s"]


def _the_grid_was_timed_in_the_same_rounds(records: list[dict], out) -> None:
    """The fixed-shape grid point (batch 2 x seq 16) of every cell: timed in the task sample's rounds, by the same
    processes, with a control and intervals; read with intervals by the fixed-shape measure and the report."""
    from bench.timing.rounds import GRID_BATCHES
    from reports.base import ReportContext
    from reports.sections.rounds import render
    from reports.throughput import choose_throughput

    cells = {r["backend"]: r for r in records}
    eager, onnx = (cells[b]["performance"][0]["speed"] for b in ("eager", "onnx"))
    assert eager["grid"] == "2x16" and eager["batch_digest"] == onnx["batch_digest"]  # the same synthetic batches
    assert eager["batches"] == GRID_BATCHES and eager["sampled_sequences"] == 2 * GRID_BATCHES
    assert [len(t["batch_seconds"]) for t in eager["rounds"]] == [GRID_BATCHES] * 3
    assert [t["pid"] for t in eager["rounds"]] == [t["pid"] for t in cells["eager"]["speed"]["rounds"]]
    assert len(eager["control"]) == 3 and eager["group_digest"] == cells["eager"]["speed"]["group_digest"]
    for line in (out / "rounds.jsonl").read_text().splitlines():
        assert len(json.loads(line)["grid_seconds"]["2x16"]) == GRID_BATCHES
    low, high = eager["examples_per_s_ci95"]
    assert 0 < low <= eager["examples_per_s"] <= high
    fixed = choose_throughput(records, "fixed-shape")
    assert fixed.rounds == 3 and fixed.in_rounds and "timing rounds" in fixed.caption
    assert fixed.of(cells["onnx"]) == onnx["examples_per_s"] and fixed.interval(cells["onnx"]) is not None
    ratio, ci = fixed.ratio(cells["eager"], cells["onnx"])
    assert ci is not None and ci[0] <= ratio <= ci[1]
    section = render(ReportContext("r", records, {}, [], (2, 16), out))
    tables = [b[1] for b in section.blocks if b[0] == "table"]
    spread, grid = tables
    assert set(spread["timed"]) == {"task sample", "grid 2x16"} and (spread["rounds"] == 3).all()
    eager_rows = spread[spread["backend"] == "eager"]
    assert all(text.endswith("]") and "x [" in text for text in eager_rows["control"])  # control with its interval
    assert grid.loc[grid["backend"] == "onnx", "x eager fp32"].item() == f"{ratio:.2f}x [{ci[0]:.2f}, {ci[1]:.2f}]"


@pytest.mark.slow
def test_a_busy_neighbour_during_one_round_flags_that_round_and_the_sweep_says_so(tiny_encoder, tmp_path):
    """Two CPU-burning processes (bounded to 300 s) run from the end of round 1 to the end of round 2: the turns they
    ran beside read the other processes' CPU from /proc, are flagged, and the sweep's last lines name them. (A relay
    round loads its processes beside the burners before it times: over 90 s in CI on 2 cores.)"""
    import subprocess
    import sys
    import time

    from tests.test_cli import BENCH

    data, out = _tatoeba_dir(tmp_path), tmp_path / "runs" / "noisy"
    args = ["sweep", "--models", tiny_encoder, "--backends", "eager,onnx", "--tasks", "tatoeba", "--langs", "de",
            "--batch-sizes", "2", "--seq-lens", "16", "--data-dir", data, "--out", out, "--eval-batch-size", "4",
            "--rounds", "2", "--round-min-time", "1.0", *FAST]  # round 1 quiet, round 2 beside the burners
    rounds_file = out / "rounds.jsonl"

    def turns() -> list[dict]:
        return [json.loads(line) for line in rounds_file.read_text().splitlines()] if rounds_file.exists() else []

    sweep = subprocess.Popen([BENCH, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    burners: list[subprocess.Popen] = []
    burn = "import time\nend = time.time() + 300\nwhile time.time() < end:\n    pass\n"
    try:
        deadline = time.time() + 600
        while len(turns()) < 2 and time.time() < deadline and sweep.poll() is None:  # round 1: two variants
            time.sleep(0.05)
        assert len(turns()) == 2, "round 1 never finished"
        burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2)]
        burn_started = time.time()
        while len(turns()) < 4 and time.time() < deadline and sweep.poll() is None:
            time.sleep(0.05)
        for b in burners:
            b.kill()
            b.wait()
        assert time.time() - burn_started < 300, "round 2 outlasted the burners"
        _, stderr = sweep.communicate(timeout=400)
    finally:
        for b in burners:
            b.kill()
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, stderr[-2000:]
    beside = [t for t in turns() if t["round"] == 1]
    assert len(beside) == 2 and all(t["disturbed"] for t in beside), [t["noise"] for t in beside]
    assert all(t["noise"]["others_cpu_cores"] > 1.0 for t in beside)  # two burners on the machine's cores
    assert "round turn(s) ran while other processes took more than 0.5 cores" in stderr
    for t in beside:
        assert f"{t['member']} round 2: other processes took" in stderr
    speed = {r["backend"]: r["speed"] for r in ResultStore(out).read()}
    assert [t["disturbed"] for t in speed["eager"]["rounds"]][1] is True


def test_the_report_states_each_invocations_wall_time_for_cells_and_rounds(tmp_path):
    from reports.base import ReportContext
    from reports.sections.environment import render

    walls = [{"command": "bench sweep", "cells_run": 4, "accuracy_cells_s": 150.0, "timing_rounds_s": 426.0},
             {"command": "bench sweep", "cells_run": 0, "accuracy_cells_s": 0.2, "timing_rounds_s": 0.0}]
    texts = [b[1] for b in render(ReportContext("r", [], {"commands": ["bench sweep"] * 2, "wall_times": walls}, [],
                                                None, tmp_path)).blocks if b[0] == "text"]
    wall_text = next(t for t in texts if t.startswith("Wall time"))
    assert "4 cell(s) 2.5 min + rounds 7.1 min" in wall_text and "0 cell(s) 0.0 min + rounds 0.0 min" in wall_text
    old = render(ReportContext("r", [], {"commands": ["bench sweep"]}, [], None, tmp_path))  # kept no wall times
    assert not any(b[1].startswith("Wall time") for b in old.blocks if b[0] == "text")


@pytest.mark.slow
def test_a_round_turn_past_the_sweep_timeout_is_killed_and_costs_that_turn_only(tiny_encoder, tmp_path):
    """`--round-timeout` bounds a timing turn as `--timeout` bounds a cell: a turn asked to time for 600 s is killed
    at 20 s (the cell keeps its own 120 s: 45 s was too little for it beside another test worker), the sweep ends
    with one line naming it, the cell keeps its accuracy and gets no speed block, and no process stays."""
    import psutil

    data, out = _tatoeba_dir(tmp_path), tmp_path / "runs" / "hung"
    proc = bench("sweep", "--models", tiny_encoder, "--backends", "eager", "--tasks", "tatoeba", "--langs", "de",
                 "--batch-sizes", "2", "--seq-lens", "16", "--data-dir", data, "--out", out, "--eval-batch-size", "4",
                 "--rounds", "1", "--round-min-time", "600", "--timeout", "120", "--round-timeout", "20", *FAST,
                 check_rc=0)
    assert "round turn failed: " in proc.stderr and "its turn did not finish within 20 s" in proc.stderr
    assert "1 round turn(s) failed" in proc.stderr and "run the same command again" in proc.stderr
    (record,) = ResultStore(out).read()
    assert record["status"] == "ok" and record["accuracy"]["scores"]["de"] >= 0 and "speed" not in record
    assert not (out / "rounds.jsonl").exists() or not (out / "rounds.jsonl").read_text().strip()

    def ours_or_orphaned(turn: psutil.Process) -> bool:
        """Another test worker's sweep may be timing its own turns now: a turn counts against this test when its
        parent is this test's sweep (its --out) or no sweep at all (an orphan)."""
        try:
            parent = turn.parent()
            command = " ".join(parent.cmdline()) if parent else ""
        except psutil.Error:
            return False  # gone while we looked
        return str(out) in command or "sweep" not in command

    assert not [p for p in psutil.process_iter(["name"])
                if (p.info["name"] or "").startswith("stilts:time_b") and ours_or_orphaned(p)]
