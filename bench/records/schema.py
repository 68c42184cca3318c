"""The result schema: one TypedDict per record kind, every key commented with its unit and when it is present.

Writers build records with the builders below and `validate` them before writing; readers go through
`upgrade` (older schema versions are brought up to this one) and then read typed keys. Version history:

* 1: performance and accuracy records carried `schema_version: 1`; sweep cells carried none.
* 2: every record kind carries `schema_version`; `env.cpu.isa` names the instruction sets that decide which
  inference paths this CPU accelerates (derived from `env.cpu.flags` when a version-1 record is upgraded).
* 3: accuracy records (and the accuracy summary of sweep cells) gain `batching`, `task_throughput` and
  `input_lengths`: throughput measured on the task's own inputs during the accuracy pass. Older records have
  none; readers fall back to the fixed-shape timing grid and say so.
* 4: sweep cells gain `dependencies` (what a resumed sweep checks) and `executor.started/ended/ran_beside`;
  optional keys only, so older cells read as they are (they resume unchecked, and the sweep says so).
"""


import time
from typing import Any, Iterable, Literal, Mapping, NotRequired, TypedDict, TypeVar

from bench.records.typecheck import SchemaError, check_typeddict

SCHEMA_VERSION = 4


class CpuIsa(TypedDict):
    avx2: bool  # 256-bit SIMD: every x86 path here assumes it
    avx512f: bool  # 512-bit SIMD: wider fp32 GEMMs
    avx512_vnni: bool  # int8 dot-product instructions: int8 GEMMs (ONNX Runtime, torch) gain most with them
    avx_vnni: bool  # the same int8 dot products on 256-bit registers (Alder Lake and later)
    avx512_bf16: bool  # native bf16 dot products: bf16 paths run at speed instead of emulated
    amx: bool  # Advanced Matrix Extensions (tiles for bf16/int8), Sapphire Rapids and later


class Env(TypedDict):
    python: str  # interpreter version
    platform: str  # platform.platform()
    hostname: str  # the machine's name, to tell runs on different hosts apart
    packages: dict[str, str]  # installed versions of the packages that decide the numbers
    cpu: dict[str, Any]  # model, machine, logical/physical cores, flags (the relevant subset), isa (CpuIsa)
    gpu: dict[str, Any] | None  # name, memory_gb, capability, cuda, count, driver; None without CUDA
    git_commit: str | None  # the stilts-bench commit, "+dirty" with uncommitted changes; None outside git
    torch_cpu_capability: str  # the ATen kernel set torch dispatched to (e.g. AVX512, AVX2)
    quantized_engine: str  # torch's quantised engine (x86, fbgemm, onednn)
    env_vars: dict[str, str]  # thread and device variables in force


class Latency(TypedDict):
    p50: float  # milliseconds per batch, median over timed iterations
    p90: float  # milliseconds
    p99: float  # milliseconds
    mean: float  # milliseconds
    std: float  # milliseconds, sample standard deviation
    min: float  # milliseconds
    max: float  # milliseconds
    p50_ci95: list[float] | None  # bootstrap 95% interval of the median, ms; None with < 5 samples


class PerformanceRecord(TypedDict):
    """`bench run`: one (model, backend, device, batch size, sequence length) cell."""
    schema_version: int  # SCHEMA_VERSION at writing
    kind: Literal["performance"]
    model: str  # what --model named (size, student, path or hub id)
    checkpoint: str  # the resolved checkpoint directory
    trained: bool  # False for --random-init weights (throughput only)
    backend: str  # inference path (export/registry.py)
    options: dict[str, Any]  # the backend options the artifact was built with, defaults filled in
    device: str  # cpu or cuda
    batch_size: int  # sequences per forward call
    seq_len: int  # tokens per sequence, padded
    input: dict[str, Any]  # kind (synthetic or text) and padding_fraction (0..1) of the timed batch
    throughput: float  # sequences per second over all timed iterations
    throughput_unit: str  # "sequences/s"
    tokens_per_s: float  # throughput x seq_len (padded tokens)
    latency_ms: Latency
    iterations: int  # timed iterations
    warmup_iterations: int  # untimed iterations before them
    timing_config: dict[str, Any]  # the TimingConfig in force
    peak_memory_mb: float | None  # MiB, inference only: CPU, the timing process's resident high-water mark reset
    # after loading (Linux VmHWM; memory.peak_scope says what); CUDA, NVML's figure for this process (every
    # allocator, ORT's arena included), torch's allocator peak where NVML is not available
    memory: dict[str, Any]  # MiB: rss before/after load, load_peak_rss_mb, inference_peak_rss_mb; CUDA:
    # gpu_process_mb (NVML, every allocator) with gpu_process_scope, cuda_max_allocated_mb (torch's), cuda_used_mb
    runtime: NotRequired[dict[str, Any]]  # numerics and placement in force: tf32, ORT providers, cpu_fallback;
    # on CPU, cpu_acceleration: the instructions the path is built for and whether this CPU has them
    size_mb: float  # MiB of the artifact on disk (in-place backends: the weights of the executed layers)
    layers_executed: NotRequired[int]  # transformer layers the variant runs (an encoder is cut at its output layer);
    # absent in records older than artifact format 2
    export: dict[str, Any]  # export_time_s, export_peak_memory_mb (MiB), created (UTC)
    load_time_s: float  # seconds to load the artifact into a runner
    parity: dict[str, Any]  # against eager fp32: max/mean abs diff, label_agreement (0..1), n_inputs
    accuracy: dict[str, Any]  # {"status": why none} (bench run measures no accuracy)
    repeats: NotRequired[int]  # processes this backend was timed in (bench run --repeats, interleaved with the
    # baseline's); latencies pool over them
    repeat_throughputs: NotRequired[list[float]]  # sequences/s of each of those processes
    speedup: float | None  # baseline's median latency / this one's, same invocation; None without --baseline
    speedup_ci95: NotRequired[list[float] | None]  # bootstrap 95% interval of speedup (variant records)
    speedup_method: NotRequired[str]  # how the ratio was measured, in words (variant records)
    baseline: dict[str, Any] | None  # the baseline's backend, throughput, latency_ms_p50; None without one
    threads: dict[str, Any]  # requested, and what torch / ONNX Runtime report in force
    env: Env
    timestamp: str  # UTC, ISO 8601
    command: str  # the command line


class TaskThroughputFigures(TypedDict):
    """Throughput over a task's real inputs, for one language or all of them (bench.timing.batching)."""
    examples: int  # the task's examples scored (sentences, sentence pairs, questions)
    sequences: int  # model inputs: both sides of a retrieval pair, every QA window
    tokens: int  # real (non-padding) tokens fed
    padded_tokens: int  # tokens fed including padding (rows x width, summed over batches)
    padding_fraction: float  # 1 - tokens / padded_tokens
    batches: int  # forward calls timed
    model_seconds: float  # seconds of forward calls (after synchronisation; compiles excluded)
    tokenize_seconds: float  # seconds of tokenisation (timed apart, not in model_seconds)
    examples_per_s: float  # examples / model_seconds
    sequences_per_s: float  # sequences / model_seconds
    tokens_per_s: float  # real tokens / model_seconds


class TaskThroughput(TaskThroughputFigures):
    """One batching policy's timed pass over every language of an accuracy record."""
    policy: str  # fixed, dynamic, sorted or tokens (bench.timing.batching)
    batch_size: int  # rows per batch at most (the tokens policy: set by max_tokens instead)
    max_tokens: int | None  # the tokens policy's budget (rows x width); None for the others
    max_length: int  # tokens per input at most (fixed: every batch's width)
    compiles: int  # graphs a compiling runner built during the pass, warm-up included (a timed call that
    # compiled was timed again once compiled)
    compile_seconds: float  # seconds of the calls that compiled (the warm-up's whole, if it compiled); not in
    # model_seconds
    warmup_batches: int  # untimed calls on the pass's first real batch
    average: float  # the primary metric of this pass, percent (equal across policies up to numerical noise)
    prediction_agreement: float  # fraction of this pass's predictions equal to the scored (first) policy's
    languages: dict[str, TaskThroughputFigures]  # language -> the same figures


class AccuracyRecord(TypedDict):
    """`bench eval`: one (model, backend, task) on its languages."""
    schema_version: int
    kind: Literal["accuracy"]
    task: str  # XTREME task name
    family: str  # retrieval, tagging, qa, classification
    metric: str  # the primary metric, in percent
    higher_is_better: bool  # False for error-style metrics (none of XTREME's today)
    split: str  # test or dev
    scores: dict[str, float]  # language -> primary metric, percent
    all_scores: dict[str, dict[str, float]]  # language -> every metric of the task, percent
    average: float  # mean of `scores` over languages, percent
    n_examples: dict[str, int]  # language -> examples scored
    languages: list[str]  # the languages scored, in order
    model: str  # what --model named
    checkpoint: str  # the resolved checkpoint directory
    checkpoint_metadata: dict[str, Any]  # the checkpoint's stilts.json
    backend: str  # inference path
    options: dict[str, Any]  # the artifact's backend options, defaults filled in
    device: str  # cpu or cuda
    layer: int | None  # encoder layer the artifact outputs (retrieval pools it); None: the head's output
    layers_executed: NotRequired[int]  # transformer layers run, as in PerformanceRecord
    max_length: int  # tokens per input (QA: window length)
    batch_size: int  # inputs per forward call
    batching: NotRequired[str]  # the batching policy of the scored pass (schema 3)
    max_examples: NotRequired[int | None]  # --max-examples: each language's first N examples only; None: all
    task_throughput: NotRequired[dict[str, TaskThroughput]]  # policy -> throughput on the task's inputs, timed
    # during that policy's pass (schema 3)
    input_lengths: NotRequired[dict[str, dict[str, Any]]]  # language -> token lengths of the model inputs:
    # bin_width, counts (histogram), mean, p50, p90, max (schema 3)
    data_sources: dict[str, str]  # language -> file (or hub configuration) the examples came from
    per_example: NotRequired[dict[str, dict[str, Any] | None]]  # language -> the primary metric example by
    # example (bench.tasks.base.LanguageResult.per_example), for paired bootstrap intervals on drops
    parity: dict[str, Any]  # against eager fp32, as in PerformanceRecord
    eval_seconds: float  # wall seconds of the accuracy pass, tokenisation included
    threads: dict[str, Any]  # thread settings in force during the pass
    env: Env
    timestamp: str  # UTC, ISO 8601
    command: str  # the command line


class PerformancePoint(TypedDict):
    """One shape of a sweep cell's timing grid."""
    batch_size: int  # sequences per forward call
    seq_len: int  # tokens per sequence, padded
    throughput: float  # sequences per second
    tokens_per_s: float  # throughput x seq_len (padded tokens)
    latency_ms: Latency
    iterations: int  # timed iterations
    peak_memory_mb: float | None  # MiB, inference only, as in PerformanceRecord
    load_peak_memory_mb: NotRequired[float]  # MiB, the timing process's high-water mark up to the end of loading
    runtime: NotRequired[dict[str, Any]]  # numerics and placement in force, as in PerformanceRecord
    threads: dict[str, Any]  # thread settings in force
    speed: NotRequired[dict[str, Any]]  # a sweep with --rounds: this shape timed in the performance run's rounds
    # (bench.timing.rounds), as the cell's `speed` block: per-round per-batch seconds, examples_per_s (here sequences
    # per second) with its 95% interval, `grid` naming the shape


class SweepCellRecord(TypedDict):
    """`bench sweep`: one (model, backend, task) cell; accuracy once, then the timing grid, one artifact."""
    schema_version: int
    kind: Literal["sweep_cell"]
    cell_id: str  # "model|backend|task": the cell's identity in results.jsonl
    model: str  # what the sweep's --models named
    backend: str  # inference path
    task: str  # XTREME task name
    device: str  # cpu or cuda
    gate: dict[str, Any]  # the run's rule: {"mode": "absolute", "points"} or {"mode": "relative", "ratio"}
    status: Literal["ok", "failed"]  # ok, or failed with error / error_kind
    timestamp: str  # UTC, when the cell finished
    cell_seconds: float  # wall seconds of the whole cell
    executor: NotRequired[dict[str, Any]]  # where the cell ran: name (local, ray), hostname, pid of its launcher,
    # resources requested, started/ended (Unix seconds, schema 4); ray: node_id, node_ip, assigned resources,
    # exclusive, ran_beside (cells on the same node at the same time) (absent in records before executors)
    error: NotRequired[str]  # failed cells: one line
    error_kind: NotRequired[str]  # failed cells: user, crash or timeout
    traceback: NotRequired[str]  # failed cells that crashed: its last 4000 characters
    parameters: NotRequired[int]  # ok cells: parameter count from the weights' headers
    checkpoint: NotRequired[str]  # ok cells
    checkpoint_metadata: NotRequired[dict[str, Any]]  # ok cells: stilts.json
    accuracy: NotRequired[dict[str, Any]]  # ok cells: AccuracyRecord's metric..data_sources, or {"status"}
    parity: NotRequired[dict[str, Any]]  # ok cells
    accuracy_peak_memory_mb: NotRequired[float]  # ok trained cells: MiB, the cell process's peak through the
    # accuracy pass (it also resolved and exported); the timing grid runs in processes of its own
    size_mb: NotRequired[float]  # ok cells: MiB on disk
    layers_executed: NotRequired[int]  # ok cells: transformer layers run, as in PerformanceRecord
    export: NotRequired[dict[str, Any]]  # ok cells: export_time_s, export_peak_memory_mb
    options: NotRequired[dict[str, Any]]  # ok cells: the artifact's backend options, defaults filled in (a variant
    # label such as onnx-static-int8[calibration=xnli:en:128] sets some; absent in records before it)
    calibration: NotRequired[dict[str, Any]]  # ok cells of statically quantised variants: the calibration text
    # drawn (spec, source, split, languages, per_language counts, texts_sha256)
    performance: NotRequired[list[PerformancePoint]]  # ok cells: one point per (batch size, seq len)
    env: NotRequired[Env]  # ok cells
    speed: NotRequired[dict[str, Any]]  # ok trained cells of a sweep with --rounds (bench.timing.rounds): the
    # performance run's per-batch seconds per round (round, position, pid, noise, disturbed), the members timed
    # together, the sample (batches, batch_sequences, batch_digest) and what it stands for, examples_per_s with its
    # 95% interval
    dependencies: NotRequired[dict[str, Any]]  # ok cells (schema 4): what the numbers depend on, checked on resume
    # (bench.records.dependencies): settings, checkpoint {path, sha256}, data_files {path: sha256}, calibration {spec,
    # data_dir, texts_sha256} or None, environment {packages, revision, host, cpu {model, flags}}


KINDS: dict[str, type] = {"performance": PerformanceRecord, "accuracy": AccuracyRecord,
                          "sweep_cell": SweepCellRecord}


R = TypeVar("R", bound=Mapping[str, Any])


def validate(record: R) -> R:
    """The record itself when it matches its kind's schema, else SchemaError naming the first wrong key."""
    kind = record.get("kind") if isinstance(record, dict) else None
    if kind not in KINDS:
        raise SchemaError(f"record kind {kind!r} is not one of {', '.join(KINDS)}")
    check_typeddict(record, KINDS[kind], kind)
    if record["schema_version"] != SCHEMA_VERSION:
        raise SchemaError(f"{kind} has schema_version {record['schema_version']}, this code writes {SCHEMA_VERSION}")
    return record


def cpu_isa(flags: Iterable[str]) -> CpuIsa:
    """The instruction sets that decide which paths a CPU accelerates, from its /proc/cpuinfo flags."""
    have = set(flags)
    return {"avx2": "avx2" in have, "avx512f": "avx512f" in have, "avx512_vnni": "avx512_vnni" in have,
            "avx_vnni": "avx_vnni" in have, "avx512_bf16": "avx512_bf16" in have,
            "amx": bool(have & {"amx_tile", "amx_int8", "amx_bf16"})}


def upgrade(original: Mapping[str, Any]) -> dict[str, Any]:
    """Bring a record of any earlier schema version up to SCHEMA_VERSION (a new dict; the input is untouched)."""
    record = dict(original)
    version = record.get("schema_version", 1)  # version-1 sweep cells carried no version
    if version > SCHEMA_VERSION:
        raise SchemaError(f"record has schema_version {version}, newer than this stilts-bench reads "
                          f"({SCHEMA_VERSION}); upgrade stilts-bench")
    if version < 2:
        if isinstance(record.get("env"), dict) and isinstance(record["env"].get("cpu"), dict):
            cpu = dict(record["env"]["cpu"])
            cpu.setdefault("isa", cpu_isa(cpu.get("flags", [])))
            record["env"] = {**record["env"], "cpu": cpu}
        record["schema_version"] = 2
    if version < 4:  # versions 3 and 4 only added optional keys (task throughput; dependencies, cell times)
        record["schema_version"] = 4
    return record


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def performance_record(**fields: Any) -> PerformanceRecord:
    return validate({"schema_version": SCHEMA_VERSION, "kind": "performance", "throughput_unit": "sequences/s",
                     "timestamp": now_utc(), **fields})  # type: ignore[return-value]


def accuracy_record(**fields: Any) -> AccuracyRecord:
    return validate({"schema_version": SCHEMA_VERSION, "kind": "accuracy", "timestamp": now_utc(),
                     **fields})  # type: ignore[return-value]


def sweep_cell_record(**fields: Any) -> SweepCellRecord:
    return validate({"schema_version": SCHEMA_VERSION, "kind": "sweep_cell", "timestamp": now_utc(),
                     **fields})  # type: ignore[return-value]
