"""The environment stored with every result: versions, CPU model and flags, GPU and driver, threads."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("stilts-bench", "torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxscript",
            "onnxruntime", "onnxruntime-gpu", "bitsandbytes", "accelerate", "numpy", "tokenizers")
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile",
             "amx_bf16", "amx_int8", "fma")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
               "CUDA_VISIBLE_DEVICES", "ORT_DISABLE_ALL_OPTIMIZATION")


def _cpu() -> dict:
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "", platform.machine()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    import psutil

    return {"model": model, "machine": platform.machine(), "logical_cores": os.cpu_count(),
            "physical_cores": psutil.cpu_count(logical=False),
            "flags": sorted(f for f in CPU_FLAGS if f in flags)}


def _gpu() -> dict | None:
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    info = {"name": props.name, "memory_gb": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda,
            "count": torch.cuda.device_count()}
    try:
        info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                        capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        info["driver"] = None
    return info


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True,
                               timeout=5).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions(names=PACKAGES) -> dict:
    versions = {}
    for pkg in names:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return versions


@functools.cache
def collect_env() -> dict:
    import torch

    versions = package_versions()
    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "hostname": platform.node(),
        "packages": versions, "cpu": _cpu(), "gpu": _gpu(), "git_commit": _git_commit(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "quantized_engine": torch.backends.quantized.engine,
        "env_vars": {k: os.environ[k] for k in THREAD_VARS if k in os.environ},
    }


def default_threads() -> int:
    """Physical cores: hyper-threads rarely help dense matmul and make timings noisier."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1
