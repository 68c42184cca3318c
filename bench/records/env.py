"""The environment stored with every result: versions, CPU model and flags, GPU and driver, threads."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from pathlib import Path

from bench.records.schema import cpu_isa
from export.versions import package_versions

PACKAGES = ("stilts-bench", "torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxscript",
            "onnxruntime", "onnxruntime-gpu", "openvino", "nncf", "bitsandbytes", "accelerate", "numpy", "tokenizers")
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
            "flags": sorted(f for f in CPU_FLAGS if f in flags), "isa": cpu_isa(flags)}


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


PROJECT_ROOT = Path(__file__).resolve().parents[2]  # bench/records/env.py -> the checkout


def git(*args: str, timeout: float = 10) -> "subprocess.CompletedProcess[bytes] | None":
    """`git -C <the project's root> ARGS`; None where git, the repository or the command fails."""
    try:
        done = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return done if done.returncode == 0 else None


def _git_commit() -> str | None:
    head, status = git("rev-parse", "HEAD"), git("status", "--porcelain")
    if head is None:
        return None
    return head.stdout.decode().strip() + ("+dirty" if status is not None and status.stdout.strip() else "")



@functools.cache
def collect_env() -> dict:
    import torch

    versions = package_versions(PACKAGES)
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


def isa_class(isa: dict) -> str:
    """The class of CPU that guards and bounds are set per: "vnni" (int8 dot products: AVX-512 VNNI, AVX-VNNI or
    AMX), "avx2" (AVX2 without them), else "baseline". `STILTS_BENCH_ISA_CLASS` overrides it (to test the
    selection; it changes no kernel)."""
    forced = os.environ.get("STILTS_BENCH_ISA_CLASS")
    if forced:
        return forced
    if isa.get("avx512_vnni") or isa.get("avx_vnni") or isa.get("amx"):
        return "vnni"
    return "avx2" if isa.get("avx2") else "baseline"


def speed_class(isa: dict) -> str:
    """The class of CPU that speed floors are set per: "amx" (Intel with AMX, Sapphire Rapids and later: PyTorch's
    eager fp32 runs on oneDNN/MKL at full speed there, so ONNX Runtime fp32 is no faster than eager — 0.97x
    [0.95-1.02] measured, where AMD hosts gave 1.1-2.1x), else the int8 class (isa_class). Numerics bounds stay
    per isa_class: AMX hosts compute int8 like VNNI ones. `STILTS_BENCH_ISA_CLASS` overrides it too."""
    forced = os.environ.get("STILTS_BENCH_ISA_CLASS")
    if forced:
        return forced
    return "amx" if isa.get("amx") else isa_class(isa)


def isa_verdict(isa: dict) -> str:
    """One line: which inference paths this CPU accelerates, and what to expect of them."""
    int8 = ("int8 GEMMs use VNNI dot-product instructions: expect ONNX Runtime int8 near 4x eager fp32"
            if isa_class(isa) == "vnni" else
            "no VNNI: int8 GEMMs run without dot-product instructions; expect int8 <= ~2x eager fp32")
    bf16 = ("native bf16 (AMX)" if isa.get("amx") else "native bf16 (AVX-512 BF16)" if isa.get("avx512_bf16")
            else "no native bf16: bf16 is emulated, expect it no faster than fp32")
    width = "AVX-512" if isa.get("avx512f") else "AVX2" if isa.get("avx2") else "no AVX2"
    return f"{width}; {int8}; {bf16}"


def this_cpu_isa() -> dict:
    return collect_env()["cpu"]["isa"]
