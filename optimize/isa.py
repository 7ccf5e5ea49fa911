"""What CPU this is: model name and the ISA flags that decide int8 and bf16 speed."""

from __future__ import annotations

import platform

from edge.host import cpu_model_and_flags

INTERESTING = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "i8mm",
    "bf16",
)


def cpu_info() -> dict[str, object]:
    model, flags = cpu_model_and_flags()
    present = [f for f in INTERESTING if f in flags]
    vnni = any(f in flags for f in ("avx512_vnni", "avx_vnni", "asimddp", "i8mm"))
    return {
        "cpu": model,
        "machine": platform.machine(),
        "isa": present,
        "int8_dot_product": vnni,
        "native_bf16": any(f in flags for f in ("avx512_bf16", "amx_bf16", "bf16")),
    }


def describe() -> str:
    info = cpu_info()
    isa = " ".join(info["isa"]) or "none"  # type: ignore[arg-type]
    return f"{info['cpu']} ({info['machine']}; ISA: {isa})"
