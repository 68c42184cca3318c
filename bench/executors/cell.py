"""One sweep cell (model x backend x task) in its own process: accuracy once, then the batch x sequence
grid timed, all on the same artifact. Run as `python -m bench.executors.cell SPEC.json RESULT.json`; the result is
the cell's fields (status, accuracy, performance, ...), which the sweep driver completes into a record."""

from __future__ import annotations

import errno
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Mapping

from models.errors import UserError
from models.files import write_json_atomic


DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # a write the disk (or a file-size limit) refused
# What a sweep cell keeps of its accuracy record (bench.records.schema.AccuracyRecord); threads: the
# task-throughput pass's.
ACCURACY_SUMMARY = ("metric", "higher_is_better", "scores", "all_scores", "average", "n_examples", "languages",
                    "split", "layer", "data_sources", "per_example", "batching", "task_throughput",
                    "input_lengths", "max_examples", "threads")


def accuracy_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ACCURACY_SUMMARY if k in record}


def run_cell(spec: dict) -> dict:
    from bench.records.dependencies import cell_dependencies
    from bench.tasks.accuracy import check_scorable, load_task_data, measure_accuracy, write_outputs
    from bench.records.env import collect_env
    from bench.timing.measure import inference_peak_mb, parity_failure, time_point
    from bench.executors.plan import CellPlan
    from bench.timing.rounds import BATCHES_FILE, BatchSample, save_grid
    from bench.tasks import get_task
    from bench.variants.prepare import prepare_variant
    from export.isolate import peak_rss_mb

    t0 = time.perf_counter()
    plan = CellPlan.from_dict(spec)  # the backend's one look-up in this process; its options stay as resolved
    plan.choice.refuse_if_unavailable()
    task = get_task(plan.task)
    data_dir = Path(plan.data_dir) if plan.data_dir else None
    data: dict = {}

    def checks(checkpoint) -> None:
        if checkpoint.trained:
            check_scorable(task, checkpoint, plan.split, plan.language_list)
            data.update(load_task_data(task, plan.language_list, data_dir, plan.split, plan.max_examples))

    variant = prepare_variant(plan.model, plan.choice, task=task, random_init=plan.random_init, threads=plan.threads,
                              before_export=checks, data_dir=data_dir, split=plan.split, langs=plan.language_list)
    checkpoint, artifact = variant.checkpoint, variant.artifact
    result = {"parameters": _parameters(checkpoint), "checkpoint": str(checkpoint.path),
              "checkpoint_metadata": checkpoint.metadata, "size_mb": artifact.manifest["size_mb"],
              "layers_executed": artifact.manifest["layers_executed"],
              "export": {k: artifact.manifest.get(k) for k in ("export_time_s", "export_peak_memory_mb")},
              "options": artifact.options}
    if artifact.manifest.get("calibration"):
        result["calibration"] = artifact.manifest["calibration"]
    if checkpoint.trained:
        sample = BatchSample(plan.round_batches) if plan.round_batches and plan.predictions_dir else None
        record, predictions = measure_accuracy(variant, task, data, plan.split, plan.eval_batch_size, None,
                                               min_agreement=plan.min_agreement, batching=list(plan.batching),
                                               max_tokens=plan.max_tokens, max_examples=plan.max_examples,
                                               batch_sample=sample)
        if plan.predictions_dir:
            write_outputs(Path(plan.predictions_dir), task, record, predictions)
        if sample is not None and plan.predictions_dir:
            scored = record["task_throughput"][record["batching"]]
            sample.save(Path(plan.predictions_dir) / BATCHES_FILE, scored["examples"], scored["sequences"],
                        artifact.path)
        result["accuracy"], result["parity"] = accuracy_summary(record), record["parity"]
        result["accuracy_peak_memory_mb"] = peak_rss_mb()  # this process: resolution, export, accuracy pass
    else:
        result["accuracy"] = {"status": "not applicable: untrained (random init)"}
    failure = parity_failure(result.get("parity", {}), plan.backend)
    if failure:  # a failed variant is not timed: its throughput would not count
        return {**result, "status": "failed", "error": failure, "error_kind": "parity",
                "env": collect_env(), "cell_seconds": time.perf_counter() - t0}
    if plan.round_batches and plan.predictions_dir:  # the grid's batches, for the performance run to time again
        save_grid(Path(plan.predictions_dir), checkpoint, artifact.path,
                  [(b, s) for b in plan.batch_sizes for s in plan.seq_lens])
    result["performance"] = []
    for batch_size in plan.batch_sizes:
        for seq_len in plan.seq_lens:
            m = time_point(variant, batch_size, seq_len, plan.timing, None, plan.min_agreement)
            result.setdefault("parity", m["parity"])
            result["performance"].append({
                "batch_size": batch_size, "seq_len": seq_len, "throughput": m["timing"]["throughput"],
                "tokens_per_s": m["timing"]["tokens_per_s"], "latency_ms": m["timing"]["latency_ms"],
                "iterations": m["timing"]["iterations"],
                "peak_memory_mb": inference_peak_mb(m["memory"], plan.device), "runtime": m["runtime"],
                "load_peak_memory_mb": m["memory"]["load_peak_rss_mb"], "threads": m["threads"]})
    result["env"] = collect_env()
    result["dependencies"] = cell_dependencies(spec, checkpoint.path, result.get("accuracy"),
                                               artifact.manifest.get("calibration"))
    result["cell_seconds"] = time.perf_counter() - t0
    return result


def _parameters(checkpoint) -> int:
    """Parameter count from the weights' headers (no model load)."""
    from safetensors import safe_open

    total = 0
    for path in checkpoint.path.glob("*.safetensors"):
        with safe_open(str(path), "np") as f:
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= d
                total += n
    return total


def main(argv: list[str]) -> int:
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text())
    try:
        out = {"status": "ok", **run_cell(spec)}
        code = 0
    except UserError as e:
        out, code = {"status": "failed", "error": str(e), "error_kind": "user"}, 2
    except OSError as e:
        if e.errno not in DISK_FULL:
            raise
        # the machine's fault, not the cell's: the driver stops the sweep unrecorded and a resume runs it again
        where = f": {e.filename}" if e.filename else ""
        out, code = {"status": "failed", "error": f"{e.strerror}{where}", "error_kind": "disk"}, 1
    except Exception as e:  # noqa: BLE001 - a crash is a recorded failed cell, not a stopped sweep
        out = {"status": "failed", "error": f"{e.__class__.__name__}: {e}", "error_kind": "crash",
               "traceback": traceback.format_exc()[-4000:]}
        code = 1
    write_json_atomic(result_path, out)
    return code


if __name__ == "__main__":
    import os

    from export.isolate import PARENT_PID_VAR, die_with_parent, name_process

    # before any heavy import: a launcher killed from now on takes this cell (and, in turn, its children) with it
    die_with_parent(int(os.environ[PARENT_PID_VAR]) if os.environ.get(PARENT_PID_VAR) else None)
    name_process("stilts:cell")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    sys.exit(main(sys.argv[1:]))
