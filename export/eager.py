"""PyTorch eager, fp32: the reference every other path is compared with."""

from export.base import Artifact, Backend, ParityBound
from export.torch_runner import TorchRunner, load_wrapper, reference_artifact_manifest, set_torch_threads


class EagerBackend(Backend):
    name = "eager"
    description = "PyTorch eager fp32 (the accuracy reference)"
    tiny_parity = ParityBound(1e-6, 1.0, 1 - 1e-9)  # the reference itself, reloaded
    demo_parity = {"vnni": ParityBound(1e-6), "avx2": ParityBound(1e-6)}
    exports_files = False

    def export(self, checkpoint, options, out):
        return reference_artifact_manifest(self.name, checkpoint, options)

    def load(self, artifact: Artifact, device, threads):
        set_torch_threads(threads)
        wrapper = load_wrapper(artifact.checkpoint, artifact.options.get("layer")).to(device)
        return TorchRunner(wrapper, device, wrapper.head.outputs)
