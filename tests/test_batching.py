"""Task throughput: batching policies, the timed feed, accuracy that does not depend on the policy (real data,
every task family), and reports that read task throughput under one named policy."""

from __future__ import annotations

import json

import pytest

from bench.timing.batching import POLICIES, TaskFeed, check_policies, length_histogram, prediction_agreement
from models.errors import UserError
from tests.conftest import build_tiny_checkpoint, needs_demo
from tests.test_tasks import shared

LENGTHS = [5, 40, 7, 33, 12, 90, 6, 18, 64, 9, 21]


def _slots(batches):
    return sum(len(idx) * width for idx, width in batches)


def test_policies_cover_every_input_once_and_pad_as_they_say():
    made = {name: policy(LENGTHS, 4, 128, 200) for name, policy in POLICIES.items()}
    for name, batches in made.items():
        assert sorted(i for idx, _ in batches for i in idx) == list(range(len(LENGTHS))), name
        assert all(width >= max(LENGTHS[i] for i in idx) for idx, width in batches), name
    assert all(width == 128 for _, width in made["fixed"])
    assert [idx for idx, _ in made["dynamic"]] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]  # data order
    flat = [i for idx, _ in made["sorted"] for i in idx]
    assert [LENGTHS[i] for i in flat] == sorted(LENGTHS)
    assert all(len(idx) * width <= 200 or len(idx) == 1 for idx, width in made["tokens"])
    assert _slots(made["fixed"]) > _slots(made["dynamic"]) > _slots(made["sorted"]) >= sum(LENGTHS)


def test_bad_policies_are_refused_in_one_line():
    with pytest.raises(UserError, match="unknown batching policy 'padded'; choose from fixed, dynamic, sorted, tokens"):
        check_policies(["sorted", "padded"], None)
    with pytest.raises(UserError, match="names a policy twice"):
        check_policies(["sorted", "sorted"], None)
    with pytest.raises(UserError, match="--max-tokens must be a positive"):
        check_policies(["tokens"], 0)


def test_histogram_and_agreement():
    h = length_histogram([3, 9, 10, 17])
    assert h["counts"] == [1, 2, 1] and h["max"] == 17 and h["bin_width"] == 8
    assert prediction_agreement({"de": [1, 2, 3, 4]}, {"de": [1, 2, 0, 4]}) == 0.75
    assert prediction_agreement({"de": {"q1": "a", "q2": "b"}}, {"de": {"q1": "a", "q2": "c"}}) == 0.5


def test_feed_returns_each_output_in_input_order_as_if_run_alone(tiny_encoder):
    """A real eager runner: every policy's batched, padded outputs equal each sequence run on its own."""
    import numpy as np

    from bench.variants.prepare import choose_backend, prepare_variant
    from export.registry import get_backend

    variant = prepare_variant(str(tiny_encoder), choose_backend("eager"), threads=2)
    runner = get_backend("eager").load(variant.artifact, "cpu", 2)
    encoded = [[0, *range(5, 3 + n), 2] for n in LENGTHS]
    alone = [runner({"input_ids": np.array([seq]), "attention_mask": np.ones((1, len(seq)), dtype=np.int64)})
             for seq in encoded]
    for policy in POLICIES:
        feed = TaskFeed(runner, policy, batch_size=4, max_tokens=200, warmup=2)
        feed.language("de")
        out = feed.run(encoded, pad_id=1, max_length=128)
        for seq, got, ref in zip(encoded, out, alone):
            assert got["hidden_state"].shape == (len(seq), 64)
            np.testing.assert_allclose(got["hidden_state"], ref["hidden_state"][0], atol=1e-4, err_msg=policy)
        summary = feed.summary({"de": len(encoded)}, 50.0, 128)
        assert summary["tokens"] == sum(len(s) for s in encoded) and summary["sequences"] == len(encoded)
        assert summary["warmup_batches"] == 2 and summary["model_seconds"] > 0
        assert summary["languages"]["de"]["examples"] == len(encoded)


def _checkpoint(tmp_path, head, labels=None):
    path = build_tiny_checkpoint(tmp_path / head, head=head, num_labels=len(labels or [0, 1]))
    meta = json.loads((path / "stilts.json").read_text())
    if labels:
        meta["labels"] = list(labels)
    (path / "stilts.json").write_text(json.dumps(meta))
    return path


@shared
@needs_demo
@pytest.mark.parametrize("task_name,lang,split", [("tatoeba", "de", "test"), ("panx", "de", "test"),
                                                  ("xquad", "de", "test"), ("pawsx", "de", "dev")])
def test_predictions_agree_across_policies_on_real_data(task_name, lang, split, shared_data, tmp_path):
    """One real-data task per family, all four policies through a real torch runner: the same predictions
    (padding only adds masked positions), the same real tokens, and padding as each policy promises."""
    from bench.tasks.accuracy import load_task_data, measure_accuracy
    from bench.tasks import get_task
    from bench.variants.prepare import choose_backend, prepare_variant

    task = get_task(task_name)
    head, labels = task.head, getattr(task, "label_set", None) or None
    model = build_tiny_checkpoint(tmp_path / "enc") if head == "encoder" else _checkpoint(tmp_path, head, labels)
    data = load_task_data(task, [lang], shared_data, split, max_examples=40)
    variant = prepare_variant(str(model), choose_backend("eager"), task=task, threads=2)
    record, _ = measure_accuracy(variant, task, data, split, 8, 128, batching=list(POLICIES), max_tokens=512)
    blocks = record["task_throughput"]
    assert list(blocks) == list(POLICIES) and record["batching"] == "fixed"
    for name, b in blocks.items():
        assert b["prediction_agreement"] >= 0.97, (name, b["prediction_agreement"])
        assert b["average"] == pytest.approx(record["average"], abs=1.5), name
        assert b["tokens"] == blocks["fixed"]["tokens"] and b["examples"] == sum(record["n_examples"].values())
        assert b["examples_per_s"] > 0 and b["model_seconds"] > 0
    assert blocks["fixed"]["padded_tokens"] == blocks["fixed"]["sequences"] * 128
    assert blocks["fixed"]["padded_tokens"] >= blocks["dynamic"]["padded_tokens"] >= blocks["sorted"]["padded_tokens"]
    assert record["input_lengths"][lang]["max"] <= 128 and sum(record["input_lengths"][lang]["counts"]) == \
        blocks["fixed"]["sequences"]
    if task.family == "retrieval":
        # both sides are fed and counted: the 40 capped queries and every one of the 1000 English candidates
        assert blocks["fixed"]["sequences"] == 40 + 1000
    if task.family == "qa":
        assert blocks["fixed"]["sequences"] >= 40  # windows, one question may need several


def _cell_with_task_throughput(backend, acc, fixed_shape, sorted_eps, fixed_eps):
    from tests.test_sweep import _cell

    cell = _cell("demo", backend, "tatoeba", acc, fixed_shape)
    blocks = {}
    for policy, eps in (("sorted", sorted_eps), ("fixed", fixed_eps)):
        figures = {"examples": 100, "sequences": 200, "tokens": 3000, "padded_tokens": 3200, "padding_fraction": 0.06,
                   "batches": 7, "model_seconds": 100 / eps, "tokenize_seconds": 0.1, "examples_per_s": eps,
                   "sequences_per_s": 2 * eps, "tokens_per_s": 30 * eps}
        blocks[policy] = {**figures, "policy": policy, "batch_size": 32, "max_tokens": None, "max_length": 128,
                          "compiles": 0, "compile_seconds": 0.0, "warmup_batches": 3, "average": acc,
                          "prediction_agreement": 1.0, "languages": {"de": figures}}
    cell["accuracy"].update(batching="sorted", task_throughput=blocks)
    return cell


def test_best_and_frontier_read_task_throughput_under_one_policy(tmp_path):
    """On padded synthetic batches int8 looks fastest; on the task's sorted batches a smaller padding cost
    changes the order. `best` and the report follow the task figure unless told otherwise."""
    from reports.analysis import best_within
    from reports.throughput import Throughput, choose_throughput

    records = [_cell_with_task_throughput("eager", 90.0, 10.0, 100.0, 12.0),
               _cell_with_task_throughput("onnx-int8", 89.5, 40.0, 150.0, 45.0),
               _cell_with_task_throughput("onnx", 90.0, 15.0, 180.0, 16.0)]
    measure = choose_throughput(records)  # the default asks for rounds; these cells have none, so it says so
    assert (measure.kind, measure.policy) == ("task", "sorted") and "no timing rounds" in measure.note
    assert choose_throughput(records, "task") == Throughput("task", policy="sorted")
    b = best_within(records, 1.0, "tatoeba", measure)
    assert b["backend"] == "onnx" and b["speedup_vs_own_eager"] == pytest.approx(1.8)  # sorted over sorted
    fixed = best_within(records, 1.0, "tatoeba", choose_throughput(records, "fixed-shape"))
    assert fixed["backend"] == "onnx-int8" and fixed["speedup_vs_own_eager"] == pytest.approx(4.0)
    padded = best_within(records, 1.0, "tatoeba", choose_throughput(records, "task", "fixed"))
    assert padded["backend"] == "onnx-int8" and padded["speedup_vs_own_eager"] == pytest.approx(45 / 12)
    with pytest.raises(UserError, match="no task throughput under 'tokens' batching"):
        choose_throughput(records, "task", "tokens")
    old = [{**r, "accuracy": {k: v for k, v in r["accuracy"].items() if k != "task_throughput"}} for r in records]
    assert choose_throughput(old).kind == "fixed-shape" and "schema < 3" in choose_throughput(old).note

    from bench.records.store import ResultStore
    from reports.report import build_report

    run = tmp_path / "run"
    for r in records:
        ResultStore(run).put(r)
    out = build_report(run)
    md = (out / "report.md").read_text()
    assert "**sorted** batching" in md and "examples/s" in md
    assert "fixed-shape throughput" in (build_report(run, tmp_path / "fixed", "fixed-shape") / "report.md").read_text()
