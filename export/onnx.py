"""ONNX export (legacy TorchScript-based or dynamo exporter) run by ONNX Runtime with full graph
optimisation. Models over 2 GB (XLM-R large) are saved with their weights in one external-data file.
On CUDA, inputs and outputs stay on the GPU through IO binding, so the timed call excludes copies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.errors import UserError
from export.inputs import TokenSpec, synthetic_batch
from export.base import Artifact, Backend, Runner
from export.options import BackendOptions, option
from export.torch_runner import load_wrapper
from models.heads import INPUT_NAMES

ONNX_FILE = "model.onnx"
EXTERNAL_DATA_FILE = "model.onnx.data"
PROTOBUF_LIMIT = 2 * 1024**3


def _dynamic_axes(head) -> dict:
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    for name in head.outputs:
        # sequence-level logits have no sequence axis
        axes[name] = {0: "batch", 1: "sequence"} if head.label_axis_is_token or head.name == "encoder" else {0: "batch"}
    return axes


def export_onnx(checkpoint, options: dict, out: Path) -> dict:
    import onnx

    wrapper = load_wrapper(checkpoint, options.get("layer"))
    head = wrapper.head
    batch = synthetic_batch(TokenSpec.of(checkpoint), batch_size=2, seq_len=16, seed=0, ragged=True)
    example = (torch.from_numpy(batch["input_ids"]), torch.from_numpy(batch["attention_mask"]))
    path = out / ONNX_FILE
    if options["exporter"] == "legacy":
        torch.onnx.export(wrapper, example, str(path), input_names=list(INPUT_NAMES),
                          output_names=list(head.outputs), dynamic_axes=_dynamic_axes(head),
                          opset_version=options["opset"], dynamo=False)
    elif options["exporter"] == "dynamo":
        batch_dim, seq_dim = torch.export.Dim("batch"), torch.export.Dim("sequence", max=4096)
        shapes = ({0: batch_dim, 1: seq_dim}, {0: batch_dim, 1: seq_dim})
        program = torch.onnx.export(wrapper, example, input_names=list(INPUT_NAMES),
                                    output_names=list(head.outputs), dynamic_shapes=shapes,
                                    opset_version=options["opset"], dynamo=True, external_data=True)
        program.save(str(path), external_data=True)
    else:
        raise UserError(f"unknown ONNX exporter '{options['exporter']}'; use legacy or dynamo")
    # Normalise the on-disk layout: inline weights when the model fits a protobuf, else one
    # external-data file beside it (ONNX's 2 GB limit), whatever each exporter chose.
    model = onnx.load(str(path), load_external_data=True)
    weight_bytes = sum(np.prod(t.dims, dtype=np.int64) * 4 for t in model.graph.initializer)
    for stale in out.iterdir():
        if stale.name != ONNX_FILE:
            stale.unlink()
    external = bool(weight_bytes > PROTOBUF_LIMIT * 0.9)
    onnx.save_model(model, str(path), save_as_external_data=external, all_tensors_to_one_file=True,
                    location=EXTERNAL_DATA_FILE, size_threshold=1024)
    return {"onnx_opset": options["opset"], "exporter": options["exporter"], "external_data": external}


EXPORT_OPTIONS = ("exporter", "opset", "layer")  # the options of the ONNX export that derived artifacts start from


def parent_artifact(backend: str, checkpoint, options: dict):
    """The cached fp32 graph (`onnx`, or `onnx-opt`) that a quantised or converted artifact is built from, exported
    with the same export options; in this process (the derived export is already isolated)."""
    from export.artifacts import ensure_artifact

    return ensure_artifact(backend, checkpoint, {k: options[k] for k in EXPORT_OPTIONS}, isolate=False)


def cuda_provider_reason() -> str | None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return ("this onnxruntime has no CUDAExecutionProvider: install the gpu extra "
                "(onnxruntime-gpu in place of onnxruntime, see README)")
    return None


class OrtRunner(Runner):
    def __init__(self, session, device: str, threads: int, details: dict | None = None):
        self.session, self.device, self._threads = session, device, threads
        self.output_names = tuple(o.name for o in session.get_outputs())
        self._details = details or {}
        # One clock for every CUDA backend: the host clock read after the device has finished (IO binding's
        # run synchronises before returning; torch runners synchronise in `synchronize`).
        self.timer = "wall"

    def prepare(self, batch):
        feed = {k: np.ascontiguousarray(batch[k], dtype=np.int64) for k in INPUT_NAMES}
        if self.device != "cuda":
            return feed
        import onnxruntime as ort

        binding = self.session.io_binding()
        for name, array in feed.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0))
        # Outputs pre-bound: one run learns their shapes, then device buffers of those shapes are allocated
        # once and reused, so the timed call neither allocates outputs nor copies them to the host.
        for name in self.output_names:
            binding.bind_output(name, "cuda", 0)
        self.session.run_with_iobinding(binding)
        shapes = [value.shape() for value in binding.get_outputs()]
        binding.clear_binding_outputs()
        for name, shape in zip(self.output_names, shapes):
            buffer = ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, "cuda", 0)
            binding.bind_ortvalue_output(name, buffer)
        return binding

    def forward(self, prepared):
        if self.device == "cuda":
            self.session.run_with_iobinding(prepared)
            return prepared
        return self.session.run(list(self.output_names), prepared)

    def to_numpy(self, outputs):
        arrays = outputs.copy_outputs_to_cpu() if self.device == "cuda" else outputs
        return {n: np.asarray(a, dtype=np.float32) for n, a in zip(self.output_names, arrays)}

    def synchronize(self):
        pass  # run() and run_with_iobinding() return after the device has finished

    def threads(self):
        return {"ort_intra_op": self._threads, "ort_inter_op": 1}

    def details(self):
        return self._details


def ort_session(path: Path, device: str, threads: int):
    """(session, details). On CUDA: TF32 off (ONNX Runtime's CUDA provider defaults to TF32 while torch runs
    IEEE fp32 matmuls: an unequal race), and nodes that fall back to the CPU provider are detected: the session
    is first built with CPU fallback disabled; if that fails, it is built with fallback and the reason kept."""
    import onnxruntime as ort

    def options(allow_cpu_fallback: bool):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if not allow_cpu_fallback:
            opts.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
        return opts

    if device != "cuda":
        return ort.InferenceSession(str(path), options(True), providers=["CPUExecutionProvider"]), {
            "providers": ["CPUExecutionProvider"]}
    providers = [("CUDAExecutionProvider", {"device_id": 0, "use_tf32": 0}), "CPUExecutionProvider"]
    fallback = None
    try:
        session = ort.InferenceSession(str(path), options(False), providers=providers)
    except Exception as e:  # noqa: BLE001 - ORT raises its own Fail type naming the nodes it cannot place
        fallback = str(e).strip().splitlines()[0][:300] if str(e).strip() else e.__class__.__name__
        session = ort.InferenceSession(str(path), options(True), providers=providers)
    if session.get_providers()[0] != "CUDAExecutionProvider":
        raise UserError("onnxruntime could not start its CUDA provider (check the CUDA/cuDNN libraries "
                        "onnxruntime-gpu needs)")
    return session, {"providers": session.get_providers(), "tf32": False,
                     "cpu_fallback": fallback}  # None: every node runs on the CUDA provider


@dataclass(frozen=True)
class OnnxExportOptions(BackendOptions):
    """The ONNX export's options, shared by every backend built from that graph."""

    exporter: str = option("legacy", "torch.onnx exporter: legacy (TorchScript-based) or dynamo",
                           choices=("legacy", "dynamo"))
    opset: int = option(17, "ONNX opset (14: the first with Trilu, which the export uses)", between=(14, 21))


class OnnxBackend(Backend):
    name = "onnx"
    description = "ONNX Runtime fp32, graph optimisation ORT_ENABLE_ALL"
    Options = OnnxExportOptions

    def availability(self, device):
        reason = super().availability(device)
        if reason is None and device == "cuda":
            return cuda_provider_reason()
        return reason

    def export(self, checkpoint, options, out):
        return export_onnx(checkpoint, options, out)

    def load(self, artifact: Artifact, device, threads):
        session, details = ort_session(artifact.file(ONNX_FILE), device, threads)
        return OrtRunner(session, device, threads, details)
