"""TensorRT through ONNX Runtime's TensorRT execution provider, on the fp32 ONNX export (fp16 engines by default).

Why ONNX Runtime's provider and not Torch-TensorRT: Torch-TensorRT's wheels pin one torch release each (installing it
would replace this project's pinned torch 2.13), while the provider needs only onnxruntime-gpu (the `gpu` extra) and
the `tensorrt` package, and runs the very graph the `onnx` backend runs, so the two differ only in the engine.

Dynamic shapes: one optimisation profile from 1 x 1 to `max_batch` x `max_seq` tokens (opt at the harness's
common 8 x 128), so the task feed's ragged batches do not rebuild engines; engines are cached beside the artifact
cache (keyed by the artifact), the first load builds them (minutes for large), and the harness's warm-up absorbs
nothing of that: the build happens in `load`. Nodes TensorRT cannot take fall back to the CUDA provider; the
record says which providers the session holds, and a session without TensorRT first is refused, never timed
under this name. Written from ONNX Runtime's TensorRT provider documentation; no GPU is lent to this project's CI,
so the `gpu`-marked test is what checks it on a machine that has one."""

from __future__ import annotations

from dataclasses import dataclass

from export.base import Artifact, ParityBound
from export.onnx import ONNX_FILE, OnnxBackend, OnnxExportOptions, OrtRunner
from export.options import option
from models.errors import UserError
from models.files import cache_root
from models.heads import INPUT_NAMES


@dataclass(frozen=True)
class OnnxTrtOptions(OnnxExportOptions):
    fp16: bool = option(True, "let TensorRT build fp16 kernels (false: fp32 engines)")
    max_batch: int = option(64, "largest batch the engine profile takes", between=(1, 4096))
    max_seq: int = option(512, "longest sequence the engine profile takes", between=(8, 8192))


def trt_reason() -> str | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        return ("this onnxruntime has no TensorrtExecutionProvider: install the gpu extra (onnxruntime-gpu) and "
                "the tensorrt package")
    return None


class OnnxTrtBackend(OnnxBackend):
    name = "onnx-trt"
    description = "TensorRT engines (fp16) through ONNX Runtime's TensorRT provider, CUDA provider for the rest"
    devices = ("cuda",)
    Options = OnnxTrtOptions
    tiny_parity = ParityBound(0.05, 0.5, 0.999)
    demo_parity: dict = {}  # a CUDA path: the demo-model guards run on CPU
    min_agreement = 0.75

    def availability(self, device):
        return super().availability(device) or trt_reason()

    def load(self, artifact: Artifact, device, threads):
        import onnxruntime as ort

        if device != "cuda":
            raise UserError(f"{self.name} runs on cuda only")
        opts = artifact.options
        engines = cache_root() / "trt-engines" / artifact.path.name
        engines.mkdir(parents=True, exist_ok=True)

        def shapes(batch: int, seq: int) -> str:
            return ",".join(f"{name}:{batch}x{seq}" for name in INPUT_NAMES)

        trt = {"device_id": 0, "trt_fp16_enable": bool(opts["fp16"]), "trt_engine_cache_enable": True,
               "trt_engine_cache_path": str(engines), "trt_profile_min_shapes": shapes(1, 1),
               "trt_profile_opt_shapes": shapes(min(8, opts["max_batch"]), min(128, opts["max_seq"])),
               "trt_profile_max_shapes": shapes(opts["max_batch"], opts["max_seq"])}
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.intra_op_num_threads = threads
        providers = [("TensorrtExecutionProvider", trt), ("CUDAExecutionProvider", {"device_id": 0, "use_tf32": 0})]
        session = ort.InferenceSession(str(artifact.file(ONNX_FILE)), session_options, providers=providers)
        if session.get_providers()[0] != "TensorrtExecutionProvider":
            raise UserError(f"onnxruntime did not start TensorRT (providers: {', '.join(session.get_providers())}); "
                            "check the tensorrt package against onnxruntime-gpu's TensorRT version")
        details = {"providers": session.get_providers(), "trt_fp16": bool(opts["fp16"]),
                   "trt_profile": {"min": trt["trt_profile_min_shapes"], "opt": trt["trt_profile_opt_shapes"],
                                   "max": trt["trt_profile_max_shapes"]},
                   "engine_cache": str(engines), "tf32": None}  # None: TensorRT decides its fp32 kernels' precision
        return OrtRunner(session, device, threads, details)
