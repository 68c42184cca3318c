"""Gate, Pareto frontier and "fastest within X points", computed from sweep records (derived, never
stored, so changing the tolerance never needs a re-run)."""

from __future__ import annotations

from dataclasses import dataclass, field


def ok_cells(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("status") == "ok"]


def has_accuracy(record: dict) -> bool:
    return "scores" in (record.get("accuracy") or {})


def default_shape(records: list[dict]) -> tuple[int, int] | None:
    """The shape frontiers are drawn at: the largest batch size with the smallest sequence length."""
    shapes = {(p["batch_size"], p["seq_len"]) for r in ok_cells(records) for p in r.get("performance", [])}
    if not shapes:
        return None
    largest = max(b for b, _ in shapes)
    return largest, min(s for b, s in shapes if b == largest)


def throughput_at(record: dict, shape: tuple[int, int] | None) -> float | None:
    for p in record.get("performance", []):
        if shape is None or (p["batch_size"], p["seq_len"]) == tuple(shape):
            return p["throughput"]
    return None


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
    from bench.metrics import paired_bootstrap_drop

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


def frontier_points(records: list[dict], task: str | None, shape) -> dict[str, tuple[float, float]]:
    """(accuracy, throughput) per variant `model|backend`. task=None: the overall frontier, averaging
    accuracy (and throughput) over the variant's tasks; only variants with every task take part."""
    cells = [r for r in ok_cells(records) if has_accuracy(r) and throughput_at(r, shape) is not None]
    tasks = sorted({r["task"] for r in cells}) if task is None else [task]
    by_variant: dict[str, list[dict]] = {}
    for r in cells:
        if r["task"] in tasks:
            by_variant.setdefault(f"{r['model']}|{r['backend']}", []).append(r)
    return {v: (sum(r["accuracy"]["average"] for r in rs) / len(rs),
                sum(throughput_at(r, shape) for r in rs) / len(rs))
            for v, rs in by_variant.items() if len(rs) == len(tasks)}


def best_within(records: list[dict], within: float, task: str, shape=None) -> dict:
    """The fastest variant whose accuracy is within `within` points of the largest model's eager fp32
    reference on `task`, with its speedup over eager fp32 of its own checkpoint and over the reference."""
    shape = shape or default_shape(records)
    refs = [r for r in ok_cells(records) if r["task"] == task and r["backend"] == "eager" and has_accuracy(r)]
    if not refs:
        return {"task": task, "error": f"no eager fp32 reference with accuracy for task {task}"}
    top = max(refs, key=lambda r: r.get("parameters", 0))
    target = top["accuracy"]["average"] - within
    candidates = [r for r in ok_cells(records) if r["task"] == task and has_accuracy(r)
                  and r["accuracy"]["average"] >= target - 1e-9 and throughput_at(r, shape)]
    if not candidates:
        return {"task": task, "error": f"no variant within {within:g} points of {top['model']} eager fp32"}
    best = max(candidates, key=lambda r: throughput_at(r, shape))
    own = reference(records, best["model"], task)
    thr = throughput_at(best, shape)
    return {
        "task": task, "shape": shape, "within": within, "variant": best["cell_id"], "model": best["model"],
        "backend": best["backend"], "throughput": thr, "accuracy": best["accuracy"]["average"],
        "reference": top["cell_id"], "reference_accuracy": top["accuracy"]["average"],
        "accuracy_drop": top["accuracy"]["average"] - best["accuracy"]["average"],
        "speedup_vs_reference": thr / throughput_at(top, shape),
        "speedup_vs_own_eager": thr / throughput_at(own, shape) if own and throughput_at(own, shape) else None,
    }
