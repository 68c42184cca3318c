"""torch.compile (Inductor) of the eager fp32 model. Compilation happens on the first calls for each
shape, so the harness's warm-up absorbs it; the compile time is not part of the timed iterations."""

import shutil

from export.base import Artifact, Backend
from export.torch_runner import TorchRunner, load_wrapper, reference_artifact_manifest, set_torch_threads


class CompileBackend(Backend):
    name = "compile"
    description = "torch.compile (Inductor), fp32"
    exports_files = False
    default_options = {"mode": "default"}
    option_values = {"mode": ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")}

    def availability(self, device):
        reason = super().availability(device)
        if reason is None and device == "cpu" and not (shutil.which("g++") or shutil.which("c++")):
            return "torch.compile on CPU needs a C++ compiler (g++) on PATH"
        return reason

    def export(self, checkpoint, options, out):
        return reference_artifact_manifest(self.name, checkpoint, options)

    def load(self, artifact: Artifact, device, threads):
        import torch

        set_torch_threads(threads)
        wrapper = load_wrapper(artifact.checkpoint, artifact.options.get("layer")).to(device)
        # dynamic=False: one specialised graph per benchmarked shape, the fastest steady state.
        compiled = torch.compile(wrapper, mode=artifact.options["mode"], dynamic=False)
        return TorchRunner(compiled, device, wrapper.head.outputs)
