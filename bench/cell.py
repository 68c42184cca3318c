"""One sweep cell (model x backend x task) in its own process: accuracy once, then the batch x sequence
grid timed, all on the same artifact. Run as `python -m bench.cell SPEC.json RESULT.json`; the result is
the cell's fields (status, accuracy, performance, ...), which the sweep driver completes into a record."""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

from models.errors import UserError
from models.files import write_json_atomic


def run_cell(spec: dict) -> dict:
    from bench.dependencies import cell_dependencies
    from bench.accuracy import check_scorable, load_task_data, measure_accuracy, write_outputs
    from bench.env import collect_env
    from bench.harness import TimingConfig
    from bench.measure import CellSpec, inference_peak_mb, measure_cell, parity_failure
    from bench.schema import accuracy_summary
    from bench.tasks import get_task
    from bench.variant import prepare_variant, split_variant
    from export.isolate import peak_rss_mb, run_isolated

    t0 = time.perf_counter()
    task = get_task(spec["task"])
    data: dict = {}

    def checks(checkpoint) -> None:
        if checkpoint.trained:
            check_scorable(task, checkpoint, spec.get("split", "test"), spec.get("langs"))
            data.update(load_task_data(task, spec.get("langs"), spec.get("data_dir") and Path(spec["data_dir"]),
                                       spec.get("split", "test"), spec.get("max_examples")))

    backend, options = split_variant(spec["backend"])
    variant = prepare_variant(spec["model"], backend, spec["device"], task=task, options=options,
                              random_init=spec.get("random_init", False), threads=spec.get("threads"),
                              before_export=checks, data_dir=spec.get("data_dir") and Path(spec["data_dir"]),
                              split=spec.get("split", "test"), langs=spec.get("langs"))
    checkpoint, artifact = variant.checkpoint, variant.artifact
    result = {"parameters": _parameters(checkpoint), "checkpoint": str(checkpoint.path),
              "checkpoint_metadata": checkpoint.metadata, "size_mb": artifact.manifest["size_mb"],
              "layers_executed": artifact.manifest["layers_executed"],
              "export": {k: artifact.manifest.get(k) for k in ("export_time_s", "export_peak_memory_mb")},
              "options": artifact.options}
    if artifact.manifest.get("calibration"):
        result["calibration"] = artifact.manifest["calibration"]
    if checkpoint.trained:
        record, predictions = measure_accuracy(variant, task, data, spec.get("split", "test"),
                                               spec.get("eval_batch_size", 32), None,
                                               min_agreement=spec.get("min_agreement"),
                                               batching=spec.get("batching"), max_tokens=spec.get("max_tokens"),
                                               max_examples=spec.get("max_examples"))
        if spec.get("predictions_dir"):
            write_outputs(Path(spec["predictions_dir"]), task, record, predictions)
        result["accuracy"], result["parity"] = accuracy_summary(record), record["parity"]
        result["accuracy_peak_memory_mb"] = peak_rss_mb()  # this process: resolution, export, accuracy pass
    else:
        result["accuracy"] = {"status": "not applicable: untrained (random init)"}
    failure = parity_failure(result.get("parity", {}), spec["backend"])
    if failure:  # a failed variant is not timed: its throughput would not count
        return {**result, "status": "failed", "error": failure, "error_kind": "parity",
                "env": collect_env(), "cell_seconds": time.perf_counter() - t0}
    timing = TimingConfig(**spec.get("timing", {}))
    result["performance"] = []
    for batch_size in spec["batch_sizes"]:
        for seq_len in spec["seq_lens"]:
            m = run_isolated(measure_cell, CellSpec(str(artifact.path), spec["device"], batch_size, seq_len,
                                                    variant.threads, timing, None, spec.get("min_agreement")))
            result.setdefault("parity", m["parity"])
            result["performance"].append({
                "batch_size": batch_size, "seq_len": seq_len, "throughput": m["timing"]["throughput"],
                "tokens_per_s": m["timing"]["tokens_per_s"], "latency_ms": m["timing"]["latency_ms"],
                "iterations": m["timing"]["iterations"],
                "peak_memory_mb": inference_peak_mb(m["memory"], spec["device"]), "runtime": m["runtime"],
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
