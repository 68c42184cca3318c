"""torch.compile (Inductor) of the eager fp32 model. Compilation happens on the first calls for each
shape, so the harness's warm-up absorbs it; the compile time is not part of the timed iterations.

Shape changes (the ragged batches of task throughput, bench.timing.batching): option `shapes`. `auto` (default) is
torch's automatic dynamic shapes: the first shape gets a specialised graph, the first shape change one graph
with symbolic batch and length that serves the rest (two compiles per pass instead of one per shape, and no
silent fall-back to eager once dynamo's recompile limit of 8 is hit). `static` compiles every new shape
(`dynamic=False`); `dynamic` starts symbolic. The runner counts the graphs it built (`compilations`), and the
task feed reports them and their time apart from the model time."""

import shutil
from dataclasses import dataclass

from export.base import Artifact, Backend
from export.options import BackendOptions, option
from export.torch_runner import TorchRunner, load_wrapper, reference_artifact_manifest, set_torch_threads


@dataclass(frozen=True)
class CompileOptions(BackendOptions):
    mode: str = option("default", "torch.compile mode",
                       choices=("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"))
    shapes: str = option("auto", "new input shapes: auto (one symbolic graph after the first change), static "
                         "(a graph per shape), dynamic (symbolic from the start)", choices=("auto", "static", "dynamic"))


class CompileBackend(Backend):
    name = "compile"
    description = "torch.compile (Inductor), fp32"
    exports_files = False
    Options = CompileOptions

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
        dynamic = {"auto": None, "static": False, "dynamic": True}[artifact.options.get("shapes", "auto")]
        compiled = torch.compile(wrapper, mode=artifact.options["mode"], dynamic=dynamic)
        return CompiledRunner(compiled, device, wrapper.head.outputs)


class CompiledRunner(TorchRunner):
    def compilations(self) -> int:
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])
