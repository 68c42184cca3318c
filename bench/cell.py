"""One sweep cell (model x backend x task) in its own process: accuracy once, then the batch x sequence
grid timed, all on the same artifact. Run as `python -m bench.cell SPEC.json RESULT.json`."""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

from bench.errors import UserError


def run_cell(spec: dict) -> dict:
    from bench.env import collect_env, default_threads
    from bench.evaluate import EvalConfig, run_eval
    from bench.harness import TimingConfig
    from bench.isolate import run_isolated
    from bench.measure import CellSpec, measure_cell
    from bench.run import check_available, ensure_reference
    from bench.tasks import get_task
    from export.artifacts import ensure_artifact
    from models.checkpoint import resolve_checkpoint

    t0 = time.perf_counter()
    check_available(spec["backend"], spec["device"])
    checkpoint = resolve_checkpoint(spec["model"], spec.get("random_init", False))
    task = get_task(spec["task"])
    threads = spec.get("threads") or default_threads()
    result = {"model": spec["model"], "backend": spec["backend"], "task": spec["task"], "device": spec["device"],
              "parameters": _parameters(checkpoint), "checkpoint": str(checkpoint.path),
              "checkpoint_metadata": checkpoint.metadata}
    if checkpoint.trained:
        record = run_eval(EvalConfig(task=spec["task"], model=spec["model"], backend=spec["backend"],
                                     device=spec["device"], langs=spec.get("langs"), data_dir=spec.get("data_dir")
                                     and Path(spec["data_dir"]), split=spec.get("split", "test"),
                                     batch_size=spec.get("eval_batch_size", 32), threads=threads,
                                     out=Path(spec["predictions_dir"]) if spec.get("predictions_dir") else None),
                          log=lambda m: None)
        result["accuracy"] = {k: record[k] for k in ("metric", "higher_is_better", "scores", "all_scores", "average",
                                                     "n_examples", "languages", "split", "layer", "data_sources")}
        result["parity"], layer = record["parity"], record["layer"]
    else:
        from bench.tasks.retrieval import default_layer

        result["accuracy"] = {"status": "not applicable: untrained (random init)"}
        layer = default_layer(checkpoint) if task.family == "retrieval" else None
    ensure_reference(checkpoint, layer)
    artifact = ensure_artifact(spec["backend"], checkpoint, {"layer": layer}, spec["device"])
    result["size_mb"] = artifact.manifest["size_mb"]
    result["export"] = {k: artifact.manifest.get(k) for k in ("export_time_s", "export_peak_memory_mb")}
    timing = TimingConfig(**spec.get("timing", {}))
    result["performance"] = []
    for batch_size in spec["batch_sizes"]:
        for seq_len in spec["seq_lens"]:
            m = run_isolated(measure_cell, CellSpec(str(artifact.path), spec["device"], batch_size, seq_len,
                                                    threads, timing))
            result.setdefault("parity", m["parity"])
            result["performance"].append({
                "batch_size": batch_size, "seq_len": seq_len, "throughput": m["timing"]["throughput"],
                "tokens_per_s": m["timing"]["tokens_per_s"], "latency_ms": m["timing"]["latency_ms"],
                "iterations": m["timing"]["iterations"], "peak_memory_mb": m["memory"].get(
                    "cuda_max_allocated_mb", m["memory"]["peak_rss_mb"]), "threads": m["threads"]})
    result["env"] = collect_env()
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
    from bench.records import write_json_atomic

    write_json_atomic(result_path, out)
    return code


if __name__ == "__main__":
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    sys.exit(main(sys.argv[1:]))
