"""What kind of host this is, in the terms int8 kernels care about.

ONNX Runtime picks its int8 GEMM kernels by ISA: AVX-512 VNNI (and AMX) on recent x86,
AVX2 (U8S8 with saturation) on older or smaller x86, NEON dot-product / i8mm on arm64. Two
hosts of the same kind run the same kernels on the same artifact and agree bit for bit;
hosts of different kinds agree within a bound. ``host_kind()`` names the kind;
``describe_host()`` adds the CPU model for messages.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

X86_AVX512_VNNI = "x86_64-avx512-vnni"
X86_AVX2 = "x86_64-avx2"
X86_OTHER = "x86_64"
AARCH64 = "aarch64"
# the kind a CUDA variant is certified under: its answers depend on the GPU kernels, not the CPU
CUDA = "cuda"


@functools.cache
def cpu_model_and_flags() -> tuple[str, frozenset[str]]:
    """The CPU's model name and its ISA flags (``/proc/cpuinfo``; x86 ``flags``, arm
    ``Features``), read once per process."""
    model = platform.processor() or platform.machine()
    flags: set[str] = set()
    path = Path("/proc/cpuinfo")
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and value.strip():
                model = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
    return model, frozenset(flags)


def kind_of(machine: str, flags: frozenset[str] | set[str] | list[str]) -> str:
    """The host kind of a machine name (``platform.machine()``) and its CPU flags."""
    machine = machine.lower()
    if machine in ("aarch64", "arm64"):
        return AARCH64
    if "avx512_vnni" in flags or "amx_int8" in flags:
        return X86_AVX512_VNNI
    if "avx2" in flags:
        return X86_AVX2
    return X86_OTHER if machine in ("x86_64", "amd64") else machine


def host_kind() -> str:
    return kind_of(platform.machine(), cpu_model_and_flags()[1])


def describe_host() -> str:
    model, _ = cpu_model_and_flags()
    return f"{host_kind()} ({model})"
