"""Gate, Pareto frontier and "fastest within X points", computed from sweep records (derived, never
stored, so changing the tolerance never needs a re-run)."""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.cells import has_accuracy, ok_cells
from reports.throughput import Throughput, choose_throughput


def reference(records: list[dict], model: str, task: str) -> dict | None:
    for r in ok_cells(records):
        if r["model"] == model and r["task"] == task and r["backend"] == "eager":
            return r
    return None


@dataclass
class GateResult:
    cell_id: str
    model: str
    backend: str
    task: str
    metric: str
    accuracy: float | None
    reference: float | None
    drop: float | None  # points lost against eager fp32 of the same checkpoint (positive = worse)
    language_drops: dict
    worst_language: str | None
    passed: bool | None  # the point estimate against the rule; None: no accuracy (untrained) or no reference
    reason: str
    drop_ci: tuple[float, float] | None = None  # paired bootstrap 95% interval of `drop` (points)
    language_drop_cis: dict = field(default_factory=dict)  # language -> (low, high) points
    # "pass": the whole interval is within the limit; "fail": the whole interval is beyond it; "inconclusive":
    # the interval straddles it (more examples would decide); without per-example data, the point estimate
    verdict: str = "n/a"


def _drop(ref: float, value: float, higher_is_better: bool) -> float:
    return ref - value if higher_is_better else value - ref


def gate(records: list[dict], rule: dict) -> list[GateResult]:
    out = []
    for r in ok_cells(records):
        acc, metric = r.get("accuracy") or {}, (r.get("accuracy") or {}).get("metric", "-")
        ref = reference(records, r["model"], r["task"])
        base = dict(cell_id=r["cell_id"], model=r["model"], backend=r["backend"], task=r["task"], metric=metric)
        if not has_accuracy(r):
            out.append(GateResult(**base, accuracy=None, reference=None, drop=None, language_drops={},
                                  worst_language=None, passed=None,
                                  reason=acc.get("status", "no accuracy measured")))
            continue
        if ref is None or not has_accuracy(ref):
            out.append(GateResult(**base, accuracy=acc["average"], reference=None, drop=None, language_drops={},
                                  worst_language=None, passed=None, reason="no eager fp32 reference in this run"))
            continue
        hib = acc.get("higher_is_better", True)
        ref_acc = ref["accuracy"]
        drops = {lang: _drop(ref_acc["scores"][lang], s, hib) for lang, s in acc["scores"].items()
                 if lang in ref_acc["scores"]}
        drop = _drop(ref_acc["average"], acc["average"], hib)
        if rule.get("mode") == "relative":
            limit = ref_acc["average"] * (1 - rule["ratio"])
            passed = drop <= limit + 1e-9
            reason = f"{'within' if passed else 'below'} {rule['ratio']:.2%} of the reference"
        else:
            limit = rule.get("points", 1.0)
            passed = drop <= limit + 1e-9
            reason = f"drop {drop:+.2f} {'<=' if passed else '>'} {limit:g} points"
        worst = max(drops, key=drops.get) if drops and max(drops.values()) > 0 else None
        interval = _drop_interval(ref_acc, acc, hib)
        verdict = "pass" if passed else "fail"
        if interval:
            low, high = interval["average"][1:]
            verdict = "pass" if high <= limit + 1e-9 else "fail" if low > limit + 1e-9 else "inconclusive"
        out.append(GateResult(**base, accuracy=acc["average"], reference=ref_acc["average"], drop=drop,
                              language_drops=drops, worst_language=worst, passed=passed, reason=reason,
                              drop_ci=interval["average"][1:] if interval else None,
                              language_drop_cis={k: v[1:] for k, v in interval["languages"].items()}
                              if interval else {}, verdict=verdict))
    return out


def _drop_interval(ref_acc: dict, acc: dict, higher_is_better: bool) -> dict | None:
    """Paired bootstrap of the drop over the same examples, when both cells kept their per-example values."""
    from bench.tasks.metrics import paired_bootstrap_drop

    ref_pe, var_pe = ref_acc.get("per_example") or {}, acc.get("per_example") or {}
    langs = [lang for lang in acc["scores"] if ref_pe.get(lang) and var_pe.get(lang)]
    if not langs or len(langs) != len(acc["scores"]):
        return None
    try:
        return paired_bootstrap_drop({k: ref_pe[k] for k in langs}, {k: var_pe[k] for k in langs}, higher_is_better)
    except ValueError:  # not the same examples (another --max-examples or data): no paired interval
        return None


def pareto(points: dict[str, tuple[float, float]]) -> list[str]:
    """Keys of the points no other point dominates (at least as accurate and as fast, strictly better in
    one). Identical points dominate neither each other: ties all stay on the frontier."""
    front = []
    for key, (acc, thr) in points.items():
        dominated = any(a >= acc and t >= thr and (a > acc or t > thr)
                        for other, (a, t) in points.items() if other != key)
        if not dominated:
            front.append(key)
    return sorted(front, key=lambda k: points[k][1])


OVERALL_AXES = ("average over tasks of each task's metric (XTREME's average)",
                "speedup over each task's reference (REFERENCE_RULE), geometric mean over tasks")


def frontier_points(records: list[dict], task: str | None, measure: Throughput) -> dict[str, tuple[float, float]]:
    """(accuracy, throughput) per variant `model|backend` on `task`. task=None: the overall frontier, on the axes
    OVERALL_AXES: examples/s of different tasks are not averaged (a QA example is not a tagging one), each task's
    throughput becomes a speedup over that task's reference first; only variants with every task take part."""
    import math

    cells = [r for r in ok_cells(records) if has_accuracy(r) and measure.of(r) is not None]
    tasks = sorted({r["task"] for r in cells}) if task is None else [task]
    by_variant: dict[str, list[dict]] = {}
    for r in cells:
        if r["task"] in tasks:
            by_variant.setdefault(f"{r['model']}|{r['backend']}", []).append(r)
    if task is not None:
        return {v: (rs[0]["accuracy"]["average"], measure.of(rs[0])) for v, rs in by_variant.items()}
    refs = {t: task_reference(records, t) for t in tasks}
    if any(ref is None or not measure.of(ref) for ref in refs.values()):
        return {}
    return {v: (sum(r["accuracy"]["average"] for r in rs) / len(rs),
                math.exp(sum(math.log(measure.of(r) / measure.of(refs[r["task"]])) for r in rs) / len(rs)))
            for v, rs in by_variant.items() if len(rs) == len(tasks)}


# How the reference of a task is chosen, stated once (the overview and `bench best` print it).
REFERENCE_RULE = ("eager fp32 of the largest model; among models of that size, the one trained on the target task "
                  "alone (no intermediate task), then the first by name: never the one that scored higher by chance")


def task_reference(records: list[dict], task: str) -> dict | None:
    """The task's reference cell by REFERENCE_RULE (no accuracy comparison: two equal models differ by noise)."""
    refs = [r for r in ok_cells(records) if r["task"] == task and r["backend"] == "eager" and has_accuracy(r)]
    if not refs:
        return None
    return sorted(refs, key=lambda r: (-r.get("parameters", 0),
                                       bool((r.get("checkpoint_metadata") or {}).get("intermediate_task")),
                                       r["model"]))[0]


def best_within(records: list[dict], within: float, task: str, measure: Throughput | None = None,
                worst_language: float | None = None) -> dict:
    """The fastest variant within `within` points of the task's reference (REFERENCE_RULE), with its speedup over
    eager fp32 of its own checkpoint and over the reference, both read from the same throughput measure.

    "Within" is decided by the drop's paired-bootstrap 95% interval against the reference (same examples): the
    whole interval must lie within `within`. A variant whose interval straddles it is passed over (listed in
    `passed_over` when it was faster); only cells without per-example values fall back to the point estimate,
    and say so (`qualified_by`). `worst_language`: every language's drop (its interval) must be within it too."""
    measure = measure or choose_throughput(records)
    top = task_reference(records, task)
    if top is None:
        return {"task": task, "error": f"no eager fp32 reference with accuracy for task {task}"}
    hib = top["accuracy"].get("higher_is_better", True)
    qualified, passed_over = [], []
    for r in ok_cells(records):
        if r["task"] != task or not has_accuracy(r) or not measure.of(r):
            continue
        drop = _drop(top["accuracy"]["average"], r["accuracy"]["average"], hib)
        interval = _drop_interval(top["accuracy"], r["accuracy"], hib) if r is not top else None
        if interval:
            high, languages = interval["average"][2], {k: v[2] for k, v in interval["languages"].items()}
        else:
            high = drop
            languages = {lang: _drop(top["accuracy"]["scores"][lang], s, hib)
                         for lang, s in r["accuracy"]["scores"].items() if lang in top["accuracy"]["scores"]}
        ok = high <= within + 1e-9 and (worst_language is None or
                                        all(v <= worst_language + 1e-9 for v in languages.values()))
        entry = {"cell": r, "drop": drop, "drop_ci": interval["average"][1:] if interval else None,
                 "qualified_by": "interval" if interval or r is top else "point estimate"}
        if ok:
            qualified.append(entry)
        elif drop <= within + 1e-9:  # within by its point estimate, not by its interval (or a language's)
            passed_over.append(entry)
    if not qualified:
        return {"task": task, "error": f"no variant within {within:g} points of {top['model']} eager fp32"}
    best = max(qualified, key=lambda e: measure.of(e["cell"]))
    cell = best["cell"]
    own = reference(records, cell["model"], task)
    thr = measure.of(cell)
    over_top, over_own = measure.ratio(top, cell), measure.ratio(own, cell) if own else None
    tied = []
    for e in qualified:
        if e is not best:
            ratio = measure.ratio(e["cell"], cell)  # the fastest over this one
            if ratio and ratio[1] and ratio[1][0] <= 1.0:
                tied.append({"variant": e["cell"]["cell_id"], "throughput": measure.of(e["cell"]),
                             "throughput_ci": measure.interval(e["cell"]), "drop": e["drop"], "drop_ci": e["drop_ci"],
                             "fastest_over_it": ratio[0], "fastest_over_it_ci": ratio[1]})
    return {
        "task": task, "measure": measure, "within": within, "worst_language": worst_language,
        "variant": cell["cell_id"], "model": cell["model"], "backend": cell["backend"], "throughput": thr,
        "throughput_ci": measure.interval(cell),
        "accuracy": cell["accuracy"]["average"], "reference": top["cell_id"],
        "reference_accuracy": top["accuracy"]["average"], "accuracy_drop": best["drop"], "drop_ci": best["drop_ci"],
        "qualified_by": best["qualified_by"],
        "speedup_vs_reference": over_top[0] if over_top else None,
        "speedup_vs_reference_ci": over_top[1] if over_top else None,
        "speedup_vs_own_eager": over_own[0] if over_own else None,
        "speedup_vs_own_eager_ci": over_own[1] if over_own else None,
        # Qualifying variants the fastest's speed cannot be told from: the 95% interval of the fastest's speedup
        # over each (same rounds, paired) reaches 1.00. Without intervals (one pass per variant) nothing is tied.
        "tied": sorted(tied, key=lambda t: -t["throughput"]),
        "ties_decidable": measure.in_rounds,
        "passed_over": [{"variant": e["cell"]["cell_id"], "throughput": measure.of(e["cell"]), "drop": e["drop"],
                         "drop_ci": e["drop_ci"]} for e in passed_over if measure.of(e["cell"]) > thr],
    }
