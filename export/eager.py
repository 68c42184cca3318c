"""PyTorch eager, fp32: the reference every other path is compared with."""

from export.base import Artifact, Backend
from export.torch_runner import TorchRunner, load_wrapper, reference_artifact_manifest, set_torch_threads


class EagerBackend(Backend):
    name = "eager"
    description = "PyTorch eager fp32 (the accuracy reference)"
    exports_files = False

    def export(self, checkpoint, options, out):
        return reference_artifact_manifest(self.name, checkpoint, options)

    def load(self, artifact: Artifact, device, threads):
        set_torch_threads(threads)
        wrapper = load_wrapper(artifact.checkpoint, artifact.options.get("layer")).to(device)
        return TorchRunner(wrapper, device, wrapper.head.outputs)
